"""Label tables (CSV) read into typed columns, with errors a user can act on: each
names the file, the row as a spreadsheet numbers it, the column and the values it
expected. ``modelkit.data.sources.readers`` reads every source's CSVs through these.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels as vocab

# FairFace's age ranges are our age groups, except its top one.
FAIRFACE_AGES = {**{g: g for g in vocab.AGE_GROUPS}, "more than 70": "70+"}
_UNKNOWN = object()


def read_table(csv: Path, *, source: str) -> pd.DataFrame:
    """Every cell as a string (empty = NA); a malformed or empty file is a ValueError."""
    try:
        with warnings.catch_warnings():
            # A row longer than the header is an error, not data silently shifted or lost.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""],
                               skipinitialspace=True, index_col=False)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{source}: {str(csv)!r} is empty; expected a header row") from err
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{source}: cannot parse {str(csv)!r} as CSV: {first}") from err


def require_columns(table: pd.DataFrame, required: tuple[str, ...], csv: Path,
                    optional: tuple[str, ...] = ()) -> None:
    """ValueError naming the missing columns, the ones present and the ones expected."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(
            f"{str(csv)!r} has no {', '.join(repr(c) for c in missing)} column "
            f"(columns: {', '.join(map(str, table.columns))}); expected {', '.join(required)}"
            + (f" and any of {', '.join(optional)}" if optional else "")
        )


def map_column(table: pd.DataFrame, column: str, mapping: dict, csv: Path, *,
               key: Callable[[str], str] = str.strip) -> np.ndarray:
    """Map a column's values through ``mapping`` after ``key`` (empty stays None); the
    first value not in it raises ValueError naming the CSV row (as a spreadsheet
    numbers it) and the value as written."""
    values = table[column].astype(object).where(table[column].notna(), None)
    values = values.where(values.map(lambda v: v is None or str(v).strip() != ""), None)
    mapped = values.map(lambda v: None if v is None else mapping.get(key(str(v)), _UNKNOWN))
    bad = mapped.index[mapped.map(lambda v: v is _UNKNOWN)]
    if len(bad):
        row = table.index.get_loc(bad[0]) + 2  # +1 header, +1 one-based
        raise ValueError(
            f"{str(csv)!r} row {row}, column {column!r}: unknown value {values[bad[0]]!r} "
            f"({len(bad)} row(s) in all); expected one of {sorted(set(mapping))}"
        )
    return mapped.to_numpy(dtype=object)


def parse_ages(values: pd.Series, csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """Split an age column into years (numbers) and age groups (range strings). A
    number of years outside ``labels.MIN_AGE..MAX_AGE`` raises ValueError naming the
    first such row."""
    text = values.astype("string").str.strip()
    years = pd.to_numeric(text, errors="coerce")
    is_group = text.notna() & (text != "") & years.isna()
    try:
        groups = map_column(pd.DataFrame({"age": values.where(is_group, None)}), "age",
                             FAIRFACE_AGES, csv)
    except ValueError as err:
        raise ValueError(f"{err}, or an age in years") from None
    out_of_range = vocab.age_out_of_range(years)
    if out_of_range.any():
        i = out_of_range.nonzero()[0][0]
        raise ValueError(
            f"{str(csv)!r} row {i + 2}, column 'age': {text.iloc[i]!r} is not an age in years "
            f"({vocab.AGE_RANGE}) or an age group such as '20-29' or '70+' "
            f"({int(out_of_range.sum())} row(s) in all)"
        )
    return years.to_numpy(dtype=float, na_value=np.nan), groups
