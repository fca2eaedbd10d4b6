"""A run's predictions table: where it lives, its columns, its splits and classes.

``predictions.parquet`` is what training writes for the evaluation splits (one row per
image, see docs/CONTRACTS.md) and what every evaluation reads: per-group tables, the
drill-downs, the Explain page's face lists and, later, comparisons between runs. This
module reads it, checks the promised columns and normalises their types once, so the
other modules can rely on them: labels are object strings with None for unknown, ages
are float, ``age_true_is_midpoint`` is bool.

Example::

    frame = load_predictions("runs/2024-..")
    test, split = select_split(frame)            # "test" when present, else "val"
    class_labels(test, "race")                   # the model's race classes, in order
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.runfolder import PREDICTIONS_FILE

CLASS_HEADS = ("gender", "race", "age_group")
AGE_HEAD = "age"
EVAL_HEADS = CLASS_HEADS + (AGE_HEAD,)
# Attributes a group is defined by (always the *true* label of the image).
GROUP_ATTRIBUTES = ("gender", "race", "age_group")
# An evaluation set's own finer classes, kept when its labels were folded into the
# model's (``race_source_true``: FairFace's 7 races for a UTKFace model; see
# modelkit.prediction.mapping). Optional columns; groupings may use them.
SOURCE_ATTRIBUTES = ("race_source",)
REQUIRED_COLUMNS = ("path", "split", "gender_true", "gender_pred", "race_true", "race_pred",
                    "age_group_true", "age_group_pred", "age_true", "age_pred")
MIDPOINT_COLUMN = "age_true_is_midpoint"
_LABEL_COLUMNS = ("path", "split") + tuple(f"{h}_{s}" for h in CLASS_HEADS for s in ("true", "pred"))


def predictions_path(run_dir: str | os.PathLike) -> Path:
    """The predictions table of a run folder."""
    return Path(run_dir) / PREDICTIONS_FILE


def load_predictions(run_dir: str | os.PathLike) -> pd.DataFrame:
    """Read and check a run's ``predictions.parquet`` (all splits).

    Raises:
        FileNotFoundError: the run folder or its predictions table is missing.
        ValueError: a column the contract promises is missing.
    """
    path = predictions_path(run_dir)
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist; pass --run-dir a folder "
                                f"under the runs root")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run has no predictions yet (they are "
                                f"written when training finishes); train or resume it first")
    return check_predictions(pd.read_parquet(path), source=str(path))


def check_predictions(predictions: pd.DataFrame, *, source: str = "predictions") -> pd.DataFrame:
    """A copy of the table with the contract's columns checked and their types normalised:
    labels as object strings with None for unknown, ages float, ``age_true_is_midpoint``
    bool (False when the column is absent).

    Raises:
        ValueError: naming the missing columns and the columns expected.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}; expected the predictions table "
                         f"of docs/CONTRACTS.md ({', '.join(REQUIRED_COLUMNS)}, ...)")
    frame = predictions.copy()
    optional = tuple(f"{a}_true" for a in SOURCE_ATTRIBUTES if f"{a}_true" in frame.columns)
    for column in _LABEL_COLUMNS + optional:
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None).map(
            lambda v: None if v is None else str(v))
    for column in ("age_true", "age_pred"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    midpoint = frame.get(MIDPOINT_COLUMN, pd.Series(False, index=frame.index))
    frame[MIDPOINT_COLUMN] = midpoint.fillna(False).astype(bool)
    return frame


def ensure_checked(predictions: pd.DataFrame) -> pd.DataFrame:
    """The table as :func:`check_predictions` leaves it; a table that has been through it
    already (it then holds the midpoint column) is returned as is, without a copy, so a
    drill-down on a checked split costs nothing extra."""
    if MIDPOINT_COLUMN in predictions.columns:
        return predictions
    return check_predictions(predictions)


def available_splits(predictions: pd.DataFrame) -> list[str]:
    """Splits present in the table, in ``labels.SPLITS`` order (unknown ones last)."""
    present = set(predictions["split"].dropna().unique())  # unique() first: 10x at 500k rows
    return [s for s in labels.SPLITS if s in present] + sorted(present - set(labels.SPLITS))


def select_split(predictions: pd.DataFrame, split: str | None = None) -> tuple[pd.DataFrame, str]:
    """The rows of one split: ``split``, else ``test`` when present, else ``val``.

    Raises:
        ValueError: the split is unknown or has no rows (the message lists those present).
    """
    present = available_splits(predictions)
    if split is None:
        split = "test" if "test" in present else "val" if "val" in present else None
        if split is None:
            raise ValueError(f"predictions hold no val or test rows (splits present: {present})")
    elif split not in labels.SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(labels.SPLITS)}")
    elif split not in present:
        raise ValueError(f"predictions hold no {split!r} rows; splits present: {present}")
    return predictions[predictions["split"] == split].reset_index(drop=True), split


def check_head(head: str, allowed: Sequence[str]) -> None:
    """Raise a ValueError naming ``head`` and the allowed names when it is not one."""
    if head not in allowed:
        raise ValueError(f"unknown head {head!r}; expected one of {list(allowed)}")


def class_labels(predictions: pd.DataFrame, head: str) -> list[str]:
    """All classes of a classification head, in model order, including ones never seen.

    gender and age group come from ``modelkit.labels``; race from the run's
    ``prob_race_<class>`` columns (the model's classes). Any other value found in the
    table is appended so no row is dropped.
    """
    check_head(head, CLASS_HEADS)
    if head == "gender":
        known = list(labels.GENDERS)
    elif head == "age_group":
        known = list(labels.AGE_GROUPS)
    else:
        prefix = "prob_race_"
        known = [c[len(prefix):] for c in predictions.columns if c.startswith(prefix)]
    seen = pd.concat([predictions[f"{head}_true"], predictions[f"{head}_pred"]]).dropna().unique()
    return known + sorted(set(seen) - set(known))


def attribute_values(predictions: pd.DataFrame, attribute: str) -> list[str]:
    """The values of a grouping attribute in display order: a head's classes
    (:func:`class_labels`), or for a source attribute the values present, in the order
    of the known race vocabulary holding them all (else sorted)."""
    if attribute not in SOURCE_ATTRIBUTES:
        return class_labels(predictions, attribute)
    present = set(predictions[f"{attribute}_true"].dropna().unique())
    for vocabulary in labels.RACE_VOCABULARIES.values():
        if present <= set(vocabulary):
            return [v for v in vocabulary if v in present]
    return sorted(present)


def label_codes(values: pd.Series, classes: list[str]) -> np.ndarray:
    """Integer codes of labels against ``classes`` (their position); -1 for None."""
    return pd.Categorical(values, categories=classes).codes.astype(np.int64)


def where_mask(predictions: pd.DataFrame,
               where: Mapping[str, str | Sequence[str]] | None) -> np.ndarray:
    """Rows whose *true* attribute labels match ``where``, e.g. ``{"race": "Black"}`` or
    ``{"gender": "female", "age_group": ["60-69", "70+"]}``; all rows when empty.

    Raises:
        ValueError: an attribute outside ``GROUP_ATTRIBUTES``.
    """
    mask = np.ones(len(predictions), dtype=bool)
    for attribute, wanted in (where or {}).items():
        check_head(attribute, GROUP_ATTRIBUTES)
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        mask &= predictions[f"{attribute}_true"].isin(wanted).to_numpy()
    return mask
