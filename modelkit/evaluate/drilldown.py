"""Drill-downs behind a per-group figure: confusion matrices, the worst errors of a
group, and the age error against true age.

Each takes a predictions table (one split, usually) and a ``where`` filter on the
*true* labels, so the dashboard can answer "how are Black women's ages wrong?" with
the same functions the CLI uses. They return plain arrays and tables; drawing them is
the dashboard's business.

Example::

    confusion(test, "gender", where={"race": "Black"}).matrix
    worst_errors(test, "race", {"gender": "female"}, k=12)
    mae_by_true_age(test, bin_width=10)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from modelkit import labels
from modelkit.evaluate.predictions import (
    AGE_HEAD,
    CLASS_HEADS,
    EVAL_HEADS,
    check_head,
    class_labels,
    ensure_checked,
    label_codes,
    where_mask,
)

Where = Mapping[str, str | Sequence[str]]
# Ages from here up share one open bin (few faces, and the bins stay readable).
OPEN_BIN_AGE = 90


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix: ``matrix[i, j]`` = images of true ``labels[i]`` predicted
    ``labels[j]``. ``counts`` are always the raw counts; ``matrix`` equals them, or
    each row divided by its total when normalised (empty rows stay 0)."""

    head: str
    labels: list[str]
    matrix: np.ndarray
    counts: np.ndarray
    normalized: bool = False
    where: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def to_json_dict(self) -> dict:
        return {"labels": list(self.labels), "matrix": self.counts.astype(int).tolist()}


def confusion(predictions: pd.DataFrame, head: str, *, normalize: bool = False,
              where: Where | None = None) -> Confusion:
    """Confusion matrix of a classification head, rows true, columns predicted, over
    every class of the head (a class never predicted still gets its column).

    Args:
        head: ``gender``, ``race`` or ``age_group``.
        normalize: divide each row by its total (the share of each true class).
        where: keep rows whose true labels match, e.g. ``{"race": "Black"}`` or
            ``{"gender": "female", "age_group": ["60-69", "70+"]}``.

    Rows with no true label for the head are left out.

    Raises:
        ValueError: an unknown head, or an unknown attribute in ``where``.
    """
    check_head(head, CLASS_HEADS)
    frame = ensure_checked(predictions)
    classes = class_labels(frame, head)
    rows = frame[where_mask(frame, where) & frame[f"{head}_true"].notna().to_numpy()]
    codes = list(range(len(classes)))
    if len(rows):
        counts = confusion_matrix(label_codes(rows[f"{head}_true"], classes),
                                  label_codes(rows[f"{head}_pred"], classes), labels=codes)
    else:
        counts = np.zeros((len(classes), len(classes)), dtype=int)
    matrix = counts
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        matrix = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    return Confusion(head=head, labels=classes, matrix=matrix, counts=counts,
                     normalized=normalize, where=dict(where or {}))


def worst_errors(predictions: pd.DataFrame, head: str, group_filter: Where | None = None,
                 k: int = 12) -> pd.DataFrame:
    """The ``k`` worst errors of a head among rows matching ``group_filter``.

    Class heads: wrong predictions, most confident first (``confidence`` = the
    predicted class's probability, ``prob_<head>_<class>``). Age: largest absolute
    error in years first. Columns: path, split, true, pred, confidence, error.
    """
    check_head(head, EVAL_HEADS)
    frame = ensure_checked(predictions)
    frame = frame[where_mask(frame, group_filter)]
    if head == AGE_HEAD:
        rows = frame[frame["age_true"].notna() & frame["age_pred"].notna()]
        result = pd.DataFrame({"path": rows["path"], "split": rows["split"],
                               "true": rows["age_true"], "pred": rows["age_pred"],
                               "confidence": np.nan,
                               "error": (rows["age_pred"] - rows["age_true"]).abs()})
        return result.sort_values("error", ascending=False).head(k).reset_index(drop=True)
    rows = frame[frame[f"{head}_true"].notna() & (frame[f"{head}_true"] != frame[f"{head}_pred"])]
    confidence = pd.Series(np.nan, index=rows.index)
    for name, members in rows.groupby(f"{head}_pred").groups.items():
        column = f"prob_{head}_{name}"
        if column in rows:
            confidence.loc[members] = rows.loc[members, column].astype(float)
    result = pd.DataFrame({"path": rows["path"], "split": rows["split"],
                           "true": rows[f"{head}_true"], "pred": rows[f"{head}_pred"],
                           "confidence": confidence, "error": 1.0})
    return result.sort_values("confidence", ascending=False, na_position="last").head(k) \
        .reset_index(drop=True)


def mae_by_true_age(predictions: pd.DataFrame, *, bin_width: int = 5,
                    where: Where | None = None) -> pd.DataFrame:
    """Age error against true age, in bins of ``bin_width`` years (open last bin at
    ``OPEN_BIN_AGE``).

    Columns: bin (label such as ``20-24``), bin_start, n, mae, median_ae, bias (mean
    of predicted - true: negative = the model guesses too young). When true ages are
    range midpoints, the bins are the age groups instead.

    Raises:
        ValueError: ``bin_width`` under one year.
    """
    if bin_width < 1:
        raise ValueError(f"bin_width must be a positive number of years, got {bin_width}")
    frame = ensure_checked(predictions)
    frame = frame[where_mask(frame, where)]
    rows = frame[frame["age_true"].notna() & frame["age_pred"].notna()]
    if rows["age_true_is_midpoint"].all() and len(rows):
        edges = list(labels.AGE_GROUP_EDGES) + [np.inf]
        names = list(labels.AGE_GROUPS)
    else:
        starts = list(range(0, OPEN_BIN_AGE + bin_width, bin_width))[: OPEN_BIN_AGE // bin_width + 1]
        edges = starts + [np.inf]
        names = [f"{lo}-{lo + bin_width - 1}" for lo in edges[:-2]] + [f"{edges[-2]}+"]
    bins = pd.cut(rows["age_true"], bins=edges, right=False, labels=names)
    signed = rows["age_pred"] - rows["age_true"]
    table = pd.DataFrame({"bin": bins, "abs": signed.abs(), "signed": signed}).groupby(
        "bin", observed=True).agg(n=("abs", "size"), mae=("abs", "mean"),
                                  median_ae=("abs", "median"), bias=("signed", "mean"))
    table = table.reset_index()
    table["bin_start"] = table["bin"].map(dict(zip(names, edges[:-1], strict=True))).astype(float)
    table["bin"] = table["bin"].astype(str)
    return table[["bin", "bin_start", "n", "mae", "median_ae", "bias"]]
