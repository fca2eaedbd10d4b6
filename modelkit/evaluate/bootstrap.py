"""Percentile bootstrap intervals, vectorised with numpy.

Intervals are a percentile bootstrap *within each group*: a group's size stays fixed,
as when asking "how sure are we about this group". fairlearn's own
``MetricFrame(n_boot=...)`` re-runs every metric through a pandas groupby per resample
and took ~10 s for 100 resamples of one metric on 20,000 rows, too slow for the
dashboard. Here:

- a classification resample of a group is one multinomial draw over the group's
  confusion-matrix cells, which is the same distribution as resampling its rows, and
  all groups and resamples are drawn at once (:func:`classification_intervals`);
- an age resample is an index draw (:func:`resample_indices`) over the group's errors
  (:func:`age_intervals`).

:func:`resample_indices` is the reusable piece: the same ``(n_boot, n)`` indices
applied to two runs' rows (aligned on the image) give a *paired* bootstrap of the
difference between them, and :func:`percentile_interval` turns any resampled statistic
into its interval.

Example::

    rng = np.random.default_rng(0)
    draws = resample_indices(len(errors), n_boot=200, rng=rng)
    percentile_interval(errors[draws].mean(axis=1), quantiles=interval_quantiles(0.95))
"""

from __future__ import annotations

import warnings

import numpy as np


def interval_quantiles(ci: float) -> tuple[float, float]:
    """The lower and upper quantile of a central interval (0.95 -> 0.025, 0.975).

    Raises:
        ValueError: ``ci`` outside (0, 1).
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    return (1 - ci) / 2, 1 - (1 - ci) / 2


def resample_indices(n: int, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` row positions drawn with replacement: one bootstrap resample of
    ``n`` rows per line. Share one draw between two runs for a paired bootstrap."""
    if n < 0 or n_boot < 0:
        raise ValueError(f"n and n_boot must be 0 or more, got n={n}, n_boot={n_boot}")
    return rng.integers(0, max(n, 1), size=(n_boot, n))


def resample_weights(n: int, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` float counts: how often each row is drawn in each resample of
    :func:`resample_indices`. Any statistic that is a sum over rows is then one matrix
    product, ``weights @ features``, for every resample at once (and for two runs at
    once when their features are stacked side by side: a paired bootstrap)."""
    draws = resample_indices(n, n_boot=n_boot, rng=rng)
    offsets = (np.arange(n_boot) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_boot * n).reshape(
        n_boot, n).astype(float)


def percentile_interval(samples: np.ndarray, *, quantiles: tuple[float, float],
                        axis: int = 0) -> np.ndarray:
    """The ``quantiles`` of resampled statistics along ``axis`` (NaN resamples ignored),
    as a trailing ``[low, high]`` axis: shape ``samples.shape`` without ``axis``, plus 2."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN interval
        interval = np.nanquantile(samples, quantiles, axis=axis)
    return np.moveaxis(interval, 0, -1)


def confusion_statistics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro F1 and per-class recall of confusion counts.

    Args:
        counts: ``(..., K, K)`` counts, rows true, columns predicted.

    Returns:
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` of shape ``(...)`` and
        ``recall`` of shape ``(..., K)``; NaN recall for a class with no true rows, and
        macro F1 over the classes that are true or predicted at least once (what
        scikit-learn computes on the labels present).
    """
    counts = np.asarray(counts, dtype=float)
    diag = np.diagonal(counts, axis1=-2, axis2=-1)
    support, predicted = counts.sum(axis=-1), counts.sum(axis=-2)
    total = counts.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: absent classes
        recall = np.where(support > 0, diag / support, np.nan)
        present = (support + predicted) > 0
        f1 = np.where(present, 2 * diag / (support + predicted), 0.0)
        return {
            "accuracy": diag.sum(axis=-1) / total,
            "balanced_accuracy": np.nanmean(recall, axis=-1),
            "macro_f1": f1.sum(axis=-1) / present.sum(axis=-1),
            "recall": recall,
        }


def classification_intervals(conf: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                             quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Percentile intervals of :func:`confusion_statistics` for each group.

    Args:
        conf: ``(groups, K, K)`` confusion counts, one matrix per group.

    Returns:
        name -> ``(groups, 2)`` (``recall``: ``(groups, K, 2)``) arrays of [low, high];
        NaN for groups of fewer than 2 rows (one image has no spread).
    """
    groups, k, _ = conf.shape
    n = conf.sum(axis=(1, 2))
    probs = conf.reshape(groups, k * k) / np.maximum(n, 1)[:, None]
    probs[n == 0, 0] = 1.0  # any valid distribution; masked below
    draws = rng.multinomial(n, probs, size=(n_boot, groups)).reshape(n_boot, groups, k, k)
    out = {}
    for name, values in confusion_statistics(draws).items():
        interval = percentile_interval(values, quantiles=quantiles)  # (groups[, K], 2)
        interval[n < 2] = np.nan
        out[name] = interval
    return out


def age_intervals(errors: np.ndarray, group_codes: np.ndarray, groups: int, *, n_boot: int,
                  rng: np.random.Generator, quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Percentile intervals of the mean (``mae``) and median (``median_ae``) absolute
    error per group, ``(groups, 2)`` each; NaN for groups of fewer than 2 rows.

    Args:
        errors: absolute errors in years, one per row.
        group_codes: each row's group, ``0 .. groups - 1``.
    """
    out = {"mae": np.full((groups, 2), np.nan), "median_ae": np.full((groups, 2), np.nan)}
    for g in range(groups):
        group_errors = errors[group_codes == g]
        if len(group_errors) < 2:
            continue
        sample = group_errors[resample_indices(len(group_errors), n_boot=n_boot, rng=rng)]
        out["mae"][g] = np.quantile(sample.mean(axis=1), quantiles)
        out["median_ae"][g] = np.quantile(np.median(sample, axis=1), quantiles)
    return out
