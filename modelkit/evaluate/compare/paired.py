"""Paired bootstrap statistics: every figure of two runs on the *same* resampled images.

Two runs evaluated on the same faces make correlated errors (the hard faces are hard
for both), so the spread of their *difference* is much smaller than two independent
intervals suggest. A paired bootstrap keeps that correlation: each resample draws
image indices once (:func:`modelkit.evaluate.bootstrap.resample_weights`) and applies
them to both runs.

Every figure `evaluate` reports is a function of sums over images: confusion-matrix
counts (accuracy, balanced accuracy, macro F1, per-class recall:
:func:`modelkit.evaluate.bootstrap.confusion_statistics`), summed age errors (MAE),
per-bin calibration gaps (ECE, Brier: :mod:`modelkit.evaluate.calibration`). So each
run becomes one feature row per image (:func:`run_features`), and all resamples of a
group are one product ``weights @ features``; the age median is read from the
weights' cumulative sums (:func:`weighted_median`). At all-ones weights the statistics
equal the point figures of :mod:`modelkit.evaluate.metrics` (a test checks it).

Example::

    features = run_features(aligned, classes, heads=("race", "age"))
    weights = bootstrap.resample_weights(len(aligned), n_boot=1000, rng=rng)
    stats = statistics(weights @ features.matrix, features)   # name -> (1000,)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from modelkit.evaluate import bootstrap, calibration
from modelkit.evaluate.metrics import AGE_METRICS, CLASS_METRICS, head_arrays
from modelkit.evaluate.predictions import AGE_HEAD


@dataclass
class Block:
    """Columns ``start:stop`` of a feature matrix and what they hold. A class head
    whose predictions are null on some labelled rows gets one extra "no prediction"
    class (``extra``): such a row counts as wrong, as scikit-learn counts it."""

    head: str
    kind: str  # "class" (confusion cells), "age" (count, error sum) or "calibration"
    start: int
    stop: int
    classes: list[str] | None = None
    extra: bool = False

    def names(self) -> list[str]:
        """The figures this block gives."""
        if self.kind == "class":
            return [f"{self.head}_{m}" for m in CLASS_METRICS] + [
                f"{self.head}_recall_{c}" for c in self.classes]
        if self.kind == "age":
            return [f"{AGE_HEAD}_{m}" for m in AGE_METRICS]
        return calibration.metric_names(self.head)

    def count(self, sums: np.ndarray) -> float:
        """Rows counted by this block, from its summed columns (labelled rows for a
        head, usable rows for calibration)."""
        part = sums[..., self.start:self.stop]
        return part.sum(axis=-1) if self.kind == "class" else part[..., 0] if self.kind == "age" \
            else part[..., -1]


@dataclass
class RunFeatures:
    """One run's per-image feature rows, their blocks, and the age errors (for the
    median, which is not a sum): NaN where the age is unknown."""

    matrix: np.ndarray
    blocks: list[Block]
    age_errors: np.ndarray | None = field(default=None, repr=False)


def run_features(frame: pd.DataFrame, classes: dict[str, list[str]], *, heads: Sequence[str],
                 calibrated: Sequence[str] = (), n_bins: int = calibration.N_BINS) -> RunFeatures:
    """Feature rows of one run over ``frame`` (rows aligned with the other run's).

    Class heads: one-hot confusion cell ``true * K + predicted`` (a null true label
    is a zero row; a null prediction is the extra class of :class:`Block`). Age: ``[labelled, |error|]``. Calibrated heads:
    :func:`modelkit.evaluate.calibration.calibration_features`.
    """
    columns, blocks, age_errors, start = [], [], None, 0
    for head in heads:
        if head == AGE_HEAD:
            mask, y_true, y_pred = head_arrays(frame, head, None)
            errors = np.where(mask, np.abs(y_pred - y_true), np.nan)
            part = np.stack([mask.astype(float), np.nan_to_num(errors)], axis=1)
            age_errors = errors
            block = Block(head, "age", start, start + 2)
        else:
            mask, y_true, y_pred = head_arrays(frame, head, classes[head])
            extra = bool((mask & (y_pred < 0)).any())
            k = len(classes[head]) + extra
            part = np.zeros((len(frame), k * k))
            cells = y_true * k + np.where(y_pred >= 0, y_pred, k - 1)
            part[np.flatnonzero(mask), cells[mask]] = 1.0
            block = Block(head, "class", start, start + k * k, list(classes[head]), extra)
        columns.append(part)
        blocks.append(block)
        start = block.stop
    for head in calibrated:
        mask, confidence, correct = calibration.top_class(frame, head, classes[head])
        part = calibration.calibration_features(confidence, correct, mask, n_bins=n_bins)
        columns.append(part)
        blocks.append(Block(head, "calibration", start, start + part.shape[1]))
        start += part.shape[1]
    matrix = np.hstack(columns) if columns else np.zeros((len(frame), 0))
    return RunFeatures(matrix=matrix, blocks=blocks, age_errors=age_errors)


def statistics(sums: np.ndarray, features: RunFeatures) -> dict[str, np.ndarray]:
    """Figure name -> values from summed feature rows ``sums`` (``(..., F)``): the
    class heads' ``CLASS_METRICS`` and ``recall_<class>``, ``age_mae``, and each
    calibrated head's ``ece`` and ``brier``. NaN where a figure has no image."""
    out: dict[str, np.ndarray] = {}
    for block in features.blocks:
        part = sums[..., block.start:block.stop]
        if block.kind == "class":
            k = len(block.classes) + block.extra
            counts = part.reshape(*part.shape[:-1], k, k)
            figures = bootstrap.confusion_statistics(counts)
            for name in CLASS_METRICS:
                out[f"{block.head}_{name}"] = figures[name]
            for code, name in enumerate(block.classes):
                out[f"{block.head}_recall_{name}"] = figures["recall"][..., code]
        elif block.kind == "age":
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{AGE_HEAD}_mae"] = np.where(part[..., 0] > 0, part[..., 1] / part[..., 0], np.nan)
        else:
            for name, values in calibration.statistics_from_sums(part).items():
                out[f"{block.head}_{name}"] = values
    return out


def weighted_median(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The median of each resample given as counts: ``weights`` ``(B, n)`` over
    ``values`` ``(n,)`` (NaN values left out); what ``np.median`` gives on the drawn
    rows (the mean of the two middle ones for an even count), NaN for an empty one."""
    keep = ~np.isnan(values)
    weights, values = weights[:, keep], values[keep]
    if not len(values):
        return np.full(len(weights), np.nan)
    order = np.argsort(values, kind="stable")
    ordered, cumulative = values[order], np.cumsum(weights[:, order], axis=1)
    total = cumulative[:, -1]
    low_rank, high_rank = np.floor((total - 1) / 2) + 1, np.floor(total / 2) + 1
    # The k-th drawn value sits where a row's running count first reaches k. Offsetting
    # each row makes the flattened counts one sorted array: one search for all rows.
    rows = np.arange(len(weights))
    step = float(total.max()) + 1
    flat = (cumulative + (rows * step)[:, None]).ravel()
    last, width = len(values) - 1, len(values)
    low = np.minimum(np.searchsorted(flat, low_rank + rows * step) - rows * width, last)
    high = np.minimum(np.searchsorted(flat, high_rank + rows * step) - rows * width, last)
    return np.where(total > 0, (ordered[low] + ordered[high]) / 2, np.nan)


def stack(members: np.ndarray, features: Sequence[RunFeatures]) -> sparse.csc_matrix:
    """The runs' feature rows of ``members`` side by side, sparse (a handful of
    non-zeros per row: one confusion cell per class head, one calibration bin), so a
    product with the resample weights costs rows x non-zeros, not rows x columns."""
    return sparse.csc_matrix(np.hstack([f.matrix[members] for f in features]))


def group_statistics(weights: np.ndarray, members: np.ndarray, features: Sequence[RunFeatures], *,
                     stacked: sparse.spmatrix | None = None) -> list[dict[str, np.ndarray]]:
    """Each run's figures for the resamples ``weights`` ``(B, len(members))`` of the
    rows ``members`` (the same weights for every run: paired). One product covers all
    runs (``stacked``: :func:`stack` of the same rows, to reuse across chunks); the
    age median is computed per run."""
    stacked = stack(members, features) if stacked is None else stacked
    sums = np.asarray((stacked.T @ weights.T).T)
    out, start = [], 0
    for run in features:
        width = run.matrix.shape[1]
        figures = statistics(sums[:, start:start + width], run)
        start += width
        if run.age_errors is not None:
            figures[f"{AGE_HEAD}_median_ae"] = weighted_median(weights, run.age_errors[members])
        out.append(figures)
    return out


def group_counts(members: np.ndarray, features: Sequence[RunFeatures]) -> list[dict[str, int]]:
    """Each run's figure name -> rows it is computed on, over the rows ``members``."""
    out = []
    for run in features:
        sums = run.matrix[members].sum(axis=0)
        out.append({name: int(round(float(block.count(sums)))) for block in run.blocks
                    for name in block.names()})
    return out
