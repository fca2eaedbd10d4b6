"""A model known only by its answers: a predictions file (CSV or parquet), audited
like any model on the faces it answered for.

A vendor API or a colleague's notebook often leaves a table, not a model. The file
has a ``path`` column (the image, absolute or relative to the dataset's root: it is
matched on its trailing path parts) and, for each head of its card, columns named
after the head's ``output``:

- gender / race: one probability column per class, ``<output>_<class>`` (they must
  sum to 1), or one label column ``<output>`` holding class names (read as certain);
- age read as a ``number``: a column ``<output>`` in years; read as ``groups``:
  ``<output>_<group>`` probability columns over ``labels.AGE_GROUPS``.

:func:`check_answers` refuses, at registration, a file without those columns, a label
outside the card's classes or probabilities that do not sum to 1. At prediction,
:func:`match_answers` pairs the set's images with the file's rows; a file row whose
image is not in the set is an error naming it (the file is for another set), an image
the file has no answer for is skipped with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.outside.card import HeadOutput, ModelCard
from modelkit.outside.readout import read_heads

PATH_COLUMN = "path"
SUFFIXES = (".csv", ".parquet")
SHOWN = 3


def read_answers(path: str | os.PathLike) -> pd.DataFrame:
    """The file as a table with a unique ``path`` column.

    Raises:
        ValueError: not a CSV or parquet file, unreadable, no ``path`` column, or a
            path answered twice.
    """
    file = Path(path)
    if file.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{file}: a predictions file is {' or '.join(SUFFIXES)}")
    try:
        frame = pd.read_parquet(file) if file.suffix.lower() == ".parquet" else pd.read_csv(file)
    except Exception as exc:  # pandas' parsers raise many kinds
        raise ValueError(f"{file} is not a readable predictions table: {type(exc).__name__}: "
                         f"{exc}") from exc
    if PATH_COLUMN not in frame.columns:
        raise ValueError(f"{file} has no {PATH_COLUMN!r} column (columns: "
                         f"{', '.join(map(str, frame.columns))}); each row needs the image's path")
    twice = frame[PATH_COLUMN][frame[PATH_COLUMN].duplicated()]
    if len(twice):
        raise ValueError(f"{file}: {len(twice)} path(s) answered twice, e.g. {twice.iloc[0]}")
    return frame.reset_index(drop=True)


def answer_outputs(card: ModelCard, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The file's rows as the model outputs its card names ({output: array}), for
    :func:`modelkit.outside.readout.read_heads`.

    Raises:
        ValueError: a missing column or a label outside the head's classes, naming it.
    """
    return {head.output: _output(card, head, frame) for head in card.heads}


def check_answers(card: ModelCard, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Read every row as the card says (what a probe is for a model); the readings."""
    if not len(frame):
        raise ValueError(f"model {card.name!r}: the predictions file has no row")
    return read_heads(card, answer_outputs(card, frame), len(frame))


def match_answers(frame: pd.DataFrame, paths: pd.Series) -> tuple[np.ndarray, list[str]]:
    """For each of the set's image ``paths``, the file's row answering it (-1: none),
    and the file's paths that are none of the set's images.

    A file path matches an image whose path ends with the same parts, so a path
    relative to the dataset root and an absolute one both match."""
    index = {_key(p): i for i, p in enumerate(frame[PATH_COLUMN].astype(str))}
    rows = np.full(len(paths), -1)
    for n, path in enumerate(paths.astype(str)):
        parts = PurePath(path).parts
        rows[n] = next((index[k] for k in ("/".join(parts[-j:]) for j in range(1, len(parts) + 1))
                        if k in index), -1)
    used = set(rows[rows >= 0].tolist())
    extra = [p for i, p in enumerate(frame[PATH_COLUMN].astype(str)) if i not in used]
    return rows, extra


def _key(path: str) -> str:
    return "/".join(p for p in PurePath(path.replace("\\", "/")).parts if p not in (".", ""))


def _output(card: ModelCard, head: HeadOutput, frame: pd.DataFrame) -> np.ndarray:
    where = f"model {card.name!r}, {head.head} answers"
    if head.head == "age" and head.age == "number":
        return pd.to_numeric(_column(frame, head.output, where), errors="coerce").to_numpy(float)
    if head.head == "age" and head.age != "groups":
        raise ValueError(f"{where}: a predictions file gives age as a number or as groups, "
                         f"not as {head.age}")
    classes = list(labels.AGE_GROUPS) if head.head == "age" else list(head.classes)
    columns = [f"{head.output}_{c}" for c in classes]
    if all(c in frame.columns for c in columns):
        return frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    values = _column(frame, head.output, where, also=columns).astype(str)
    unknown = sorted(set(values) - set(classes))
    if unknown:
        raise ValueError(f"{where}: label(s) {unknown[:SHOWN]} are not among the card's classes "
                         f"({', '.join(classes)})")
    return np.asarray([[v == c for c in classes] for v in values], dtype=float).reshape(-1, len(classes))


def _column(frame: pd.DataFrame, name: str, where: str, *, also: list[str] = ()) -> pd.Series:
    if name not in frame.columns:
        wanted = f"column {name!r}" + (f" (nor the columns {', '.join(also)})" if also else "")
        raise ValueError(f"{where}: the file has no {wanted}; its columns: "
                         f"{', '.join(map(str, frame.columns))}")
    return frame[name]
