"""What a figure is: the names, the point values (scikit-learn) and the intervals
(:mod:`modelkit.evaluate.bootstrap`) of each head's figures.

Every head has a fixed set of figures, named ``<head>_<metric>`` so the tables, the
JSON and the dashboard all say the same thing:

- class heads (gender, race, age group): ``accuracy``, ``balanced_accuracy``,
  ``macro_f1`` and, in single-attribute groupings and overall, ``recall_<class>``;
- age: ``mae`` and ``median_ae`` in years.

Rows whose true label of a head is null are left out of that head's figures.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    median_absolute_error,
    recall_score,
)

from modelkit.evaluate import bootstrap
from modelkit.evaluate.predictions import AGE_HEAD, CLASS_HEADS, label_codes

CLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
AGE_METRICS = ("mae", "median_ae")
# The figures compared between groups (gaps, worst-group ranking); per-class recall
# is per-group by construction and stays in the tables.
HEADLINE_METRICS = tuple(f"{h}_{m}" for h in CLASS_HEADS for m in CLASS_METRICS) + tuple(
    f"{AGE_HEAD}_{m}" for m in AGE_METRICS)
# The one figure per head a summary shows first (run tables, a report's headline).
SUMMARY_METRIC = {"gender": "accuracy", "race": "accuracy", "age": "mae"}
LOWER_IS_BETTER = frozenset(f"{AGE_HEAD}_{m}" for m in AGE_METRICS)

HeadArrays = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(labelled mask, y_true, y_pred) of one head over a table's rows."""


def head_metric_names(head: str, classes: list[str] | None, *, per_class: bool) -> list[str]:
    """Output names of one head's figures, e.g. ``race_accuracy``, ``race_recall_Black``."""
    if head == AGE_HEAD:
        return [f"{AGE_HEAD}_{m}" for m in AGE_METRICS]
    names = [f"{head}_{m}" for m in CLASS_METRICS]
    return names + ([f"{head}_recall_{c}" for c in classes] if per_class else [])


def head_figures(head: str, classes: list[str] | None, *,
                 per_class: bool) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """A ``(y_true, y_pred) -> {name: value}`` of scikit-learn metrics for one head
    (class heads take integer codes against ``classes``).

    One callable returning every figure (rather than one per figure) keeps a
    MetricFrame to a single pass over each group's rows. scikit-learn warns on groups
    holding one class, which is expected here, so warnings are silenced.
    """
    def figures(y_true, y_pred) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if head == AGE_HEAD:
                return {"age_mae": float(mean_absolute_error(y_true, y_pred)),
                        "age_median_ae": float(median_absolute_error(y_true, y_pred))}
            out = {f"{head}_accuracy": float(accuracy_score(y_true, y_pred)),
                   f"{head}_balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
                   f"{head}_macro_f1": float(f1_score(y_true, y_pred, average="macro",
                                                      zero_division=0))}
            if per_class:
                recall = recall_score(y_true, y_pred, labels=list(range(len(classes))),
                                      average=None, zero_division=np.nan)
                out.update({f"{head}_recall_{c}": float(r) for c, r in zip(classes, recall, strict=True)})
            return out
    return figures


def head_arrays(predictions: pd.DataFrame, head: str, classes: list[str] | None) -> HeadArrays:
    """(labelled mask, y_true, y_pred) of one head; class heads as integer codes
    against ``classes`` (-1 for a null label), age as float years."""
    if head == AGE_HEAD:
        y_true = predictions["age_true"].to_numpy(float)
        y_pred = predictions["age_pred"].to_numpy(float)
        return ~np.isnan(y_true) & ~np.isnan(y_pred), y_true, y_pred
    y_true = label_codes(predictions[f"{head}_true"], classes)
    y_pred = label_codes(predictions[f"{head}_pred"], classes)
    return y_true >= 0, y_true, y_pred


def head_intervals(head: str, y_true: np.ndarray, y_pred: np.ndarray, group_codes: np.ndarray,
                   groups: int, classes: list[str] | None, *, n_boot: int,
                   rng: np.random.Generator, quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Figure name -> ``(groups, 2)`` bootstrap intervals of one head, for labelled rows
    (``y_true``, ``y_pred``) falling in groups ``group_codes``; empty without resamples."""
    if n_boot <= 0 or len(y_true) == 0:
        return {}
    if head == AGE_HEAD:
        boot = bootstrap.age_intervals(np.abs(y_pred - y_true), group_codes, groups,
                                       n_boot=n_boot, rng=rng, quantiles=quantiles)
        return {f"{AGE_HEAD}_{m}": boot[m] for m in AGE_METRICS}
    k = len(classes)
    pred = np.where(y_pred >= 0, y_pred, 0)  # a null prediction counts against class 0
    conf = np.bincount(group_codes * k * k + y_true * k + pred, minlength=groups * k * k)
    boot = bootstrap.classification_intervals(conf.reshape(groups, k, k), n_boot=n_boot,
                                              rng=rng, quantiles=quantiles)
    out = {f"{head}_{m}": boot[m] for m in CLASS_METRICS}
    for code, name in enumerate(classes):
        out[f"{head}_recall_{name}"] = boot["recall"][:, code]
    return out


def interval_columns(intervals: np.ndarray | None) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(low, high) columns of an interval array; NaN, NaN when there is none."""
    if intervals is None:
        return np.nan, np.nan
    return intervals[..., 0], intervals[..., 1]
