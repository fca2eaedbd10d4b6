"""Is the model's confidence equally honest for every group? Per-group calibration of
the gender and race heads.

A head's *confidence* in an image is its top-class probability (the predicted class's
share); the image counts as *correct* when that class is the true one. Per group:

- the reliability curve (``sklearn.calibration.calibration_curve``, uniform bins):
  the share correct against the mean confidence of each confidence bin;
- the expected calibration error (ECE, Guo et al. 2017, "On Calibration of Modern
  Neural Networks"): ``sum_b n_b / n * |accuracy_b - confidence_b|`` over the same
  bins, with a percentile bootstrap interval (within the group, its size fixed);
- the Brier score of the top-class confidence: the mean of ``(correct - confidence)**2``
  (what ``sklearn.metrics.brier_score_loss(correct, confidence)`` gives), 0 for a
  perfect, certain model.

Both are sums over images divided by their count, so one feature row per image
(:func:`calibration_features`) gives them for any resample as a matrix product; the
paired comparison of two runs (:mod:`modelkit.evaluate.compare.paired`) uses the same rows.

Example::

    table = calibration_table(test, classes, n_boot=200, rng=np.random.default_rng(0),
                              quantiles=(0.025, 0.975))
    worst_calibrated(table, head="race", min_n=5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from modelkit.evaluate import bootstrap
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES, label_codes

CALIBRATED_HEADS = ("gender", "race")
CALIBRATION_METRICS = ("ece", "brier")
N_BINS = 10
OVERALL = "overall"
ALL_GROUP = "all"
TABLE_COLUMNS = ["head", "grouping", "group", "n", "accuracy", "confidence", "ece", "ece_ci_low",
                 "ece_ci_high", "brier", "brier_ci_low", "brier_ci_high"]
CURVE_COLUMNS = ["head", "grouping", "group", "bin", "confidence", "accuracy", "count"]


def metric_names(head: str) -> list[str]:
    """The comparison names of a head's calibration figures: ``race_ece``, ``race_brier``."""
    return [f"{head}_{m}" for m in CALIBRATION_METRICS]


def top_class(frame: pd.DataFrame, head: str, classes: list[str]) -> tuple[np.ndarray, ...]:
    """(usable mask, confidence, correct) of one head over the table's rows.

    A row is usable when its true label is known, the head predicted a class and every
    class has a probability column. Without the columns (an older table) no row is.
    """
    columns = [f"prob_{head}_{c}" for c in classes]
    n = len(frame)
    if not classes or any(c not in frame.columns for c in columns):
        return np.zeros(n, bool), np.zeros(n), np.zeros(n, bool)
    probs = frame[columns].to_numpy(float)
    y_true = label_codes(frame[f"{head}_true"], classes)
    y_pred = label_codes(frame[f"{head}_pred"], classes)
    mask = (y_true >= 0) & (y_pred >= 0) & np.isfinite(probs).all(axis=1)
    confidence = np.where(mask, np.nan_to_num(probs).max(axis=1), 0.0).clip(0.0, 1.0)
    return mask, confidence, mask & (y_true == y_pred)


def bin_ids(confidence: np.ndarray, *, n_bins: int = N_BINS) -> np.ndarray:
    """Each confidence's bin, exactly as ``calibration_curve(strategy="uniform")`` bins."""
    return np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], confidence)


def calibration_features(confidence: np.ndarray, correct: np.ndarray, mask: np.ndarray, *,
                         n_bins: int = N_BINS) -> np.ndarray:
    """``(n, n_bins + 2)`` per-image terms whose column sums give ECE and Brier:
    ``correct - confidence`` in the image's bin column, the squared gap, and 1 (the
    count); all zero for unusable rows."""
    gap = correct.astype(float) - confidence
    features = np.zeros((len(confidence), n_bins + 2))
    features[np.arange(len(confidence)), bin_ids(confidence, n_bins=n_bins)] = gap
    features[:, n_bins] = gap ** 2
    features[:, n_bins + 1] = 1.0
    return features * mask[:, None]


def statistics_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """``ece`` and ``brier`` from column sums of :func:`calibration_features` (any
    leading shape); NaN where no image was counted."""
    count = sums[..., -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"ece": np.where(count > 0, np.abs(sums[..., :-2]).sum(axis=-1) / count, np.nan),
                "brier": np.where(count > 0, sums[..., -2] / count, np.nan)}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *,
                               n_bins: int = N_BINS) -> float:
    """ECE of top-class confidences against correctness (NaN for no image)."""
    features = calibration_features(confidence, correct, np.ones(len(confidence), bool),
                                    n_bins=n_bins)
    return float(statistics_from_sums(features.sum(axis=0))["ece"])


def reliability_curve(confidence: np.ndarray, correct: np.ndarray, *,
                      n_bins: int = N_BINS) -> pd.DataFrame:
    """The non-empty bins' mean confidence, share correct and image count."""
    if not len(confidence):
        return pd.DataFrame(columns=["bin", "confidence", "accuracy", "count"])
    accuracy, mean_confidence = calibration_curve(correct.astype(int), confidence, n_bins=n_bins,
                                                  strategy="uniform", pos_label=1)
    counts = np.bincount(bin_ids(confidence, n_bins=n_bins), minlength=n_bins)
    return pd.DataFrame({"bin": np.flatnonzero(counts), "confidence": mean_confidence,
                         "accuracy": accuracy, "count": counts[counts > 0]})


def partitions(frame: pd.DataFrame, classes: dict[str, list[str]],
               attributes: Sequence[str] = GROUP_ATTRIBUTES) -> list[tuple[str, list[str], np.ndarray]]:
    """``(grouping, group names, row codes)`` for the whole table (``overall``, one
    group ``all``) and each attribute's groups present (true labels, vocabulary
    order; code -1 for a row outside every group)."""
    out = [(OVERALL, [ALL_GROUP], np.zeros(len(frame), np.int64))]
    for attribute in attributes:
        present = set(frame[f"{attribute}_true"].dropna().unique())
        names = [c for c in classes[attribute] if c in present]
        out.append((attribute, names, label_codes(frame[f"{attribute}_true"], names)))
    return out


def calibration_table(frame: pd.DataFrame, classes: dict[str, list[str]], *,
                      heads: Sequence[str] = CALIBRATED_HEADS,
                      attributes: Sequence[str] = GROUP_ATTRIBUTES, n_bins: int = N_BINS,
                      n_boot: int, rng: np.random.Generator,
                      quantiles: tuple[float, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per head x group: n, accuracy, mean confidence, ECE and Brier with intervals
    (``TABLE_COLUMNS``), and the reliability curves (``CURVE_COLUMNS``).

    A group's images are resampled once for all heads (its size fixed). Intervals are
    NaN for groups of fewer than 2 usable images, and without resamples. ECE is
    biased upwards on small groups (every bin's gap counts as positive), so its
    percentile interval may sit above the point value: read it as the spread, and
    compare runs on the same images (:mod:`modelkit.evaluate.compare.runs`).
    """
    width = n_bins + 2
    usable = {h: top_class(frame, h, classes.get(h) or []) for h in heads}
    features = np.hstack([calibration_features(c, r, m, n_bins=n_bins) for m, c, r in usable.values()]
                         or [np.zeros((len(frame), 0))])
    rows, curves = [], []
    for grouping, names, codes in partitions(frame, classes, attributes):
        for code, group in enumerate(names):
            members = np.flatnonzero(codes == code)
            sums = features[members].sum(axis=0)
            resampled = None
            if n_boot > 0 and len(members) >= 2:
                weights = bootstrap.resample_weights(len(members), n_boot=n_boot, rng=rng)
                resampled = weights @ features[members]
            for index, (head, (mask, confidence, correct)) in enumerate(usable.items()):
                columns = slice(index * width, (index + 1) * width)
                inside = members[mask[members]]
                if not len(inside):
                    continue
                point = statistics_from_sums(sums[columns])
                intervals = {m: (np.nan, np.nan) for m in CALIBRATION_METRICS}
                if resampled is not None and len(inside) >= 2:
                    drawn = statistics_from_sums(resampled[:, columns])
                    intervals = {m: tuple(bootstrap.percentile_interval(drawn[m], quantiles=quantiles))
                                 for m in CALIBRATION_METRICS}
                rows.append({"head": head, "grouping": grouping, "group": group, "n": len(inside),
                             "accuracy": float(correct[inside].mean()),
                             "confidence": float(confidence[inside].mean()),
                             **{m: float(point[m]) for m in CALIBRATION_METRICS},
                             **{f"{m}_ci_{end}": float(v) for m in CALIBRATION_METRICS
                                for end, v in zip(("low", "high"), intervals[m], strict=True)}})
                curve = reliability_curve(confidence[inside], correct[inside], n_bins=n_bins)
                curves.append(curve.assign(head=head, grouping=grouping, group=group))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    curve_table = pd.concat(curves, ignore_index=True)[CURVE_COLUMNS] if curves else \
        pd.DataFrame(columns=CURVE_COLUMNS)
    return table, curve_table


def worst_calibrated(table: pd.DataFrame, *, head: str, min_n: int = 5) -> pd.Series | None:
    """The group (of any attribute, not overall) with the highest ECE among groups of
    at least ``min_n`` images; None when there is none."""
    rows = table[(table["head"] == head) & (table["grouping"] != OVERALL) & (table["n"] >= min_n)
                 & table["ece"].notna()]
    return None if rows.empty else rows.loc[rows["ece"].idxmax()]


@dataclass
class Calibration:
    """Per-group calibration of a split: the tables of :func:`calibration_table` and
    the settings they were made with (``n_bins``, ``min_n`` for naming the worst group)."""

    table: pd.DataFrame
    curves: pd.DataFrame = field(repr=False)
    n_bins: int = N_BINS
    min_n: int = 5

    def worst(self, head: str) -> pd.Series | None:
        """The worst-calibrated group of ``head`` (highest ECE, at least ``min_n`` images)."""
        return worst_calibrated(self.table, head=head, min_n=self.min_n)

    def to_json_dict(self) -> dict:
        """``evaluate --json``'s ``calibration`` object (shape in docs/CONTRACTS.md)."""
        out: dict = {"n_bins": self.n_bins, "min_n": self.min_n,
                     "confidence": "top-class probability"}
        for head, rows in self.table.groupby("head", sort=False):
            curves = self.curves[self.curves["head"] == head]
            entries: dict = {}
            for row in rows.itertuples():
                curve = curves[(curves["grouping"] == row.grouping) & (curves["group"] == row.group)]
                entries.setdefault(row.grouping, {})[row.group] = {
                    "n": int(row.n), "accuracy": _number(row.accuracy),
                    "confidence": _number(row.confidence), "ece": _number(row.ece),
                    "ece_ci": _interval(row.ece_ci_low, row.ece_ci_high),
                    "brier": _number(row.brier),
                    "brier_ci": _interval(row.brier_ci_low, row.brier_ci_high),
                    "curve": {"confidence": curve["confidence"].astype(float).tolist(),
                              "accuracy": curve["accuracy"].astype(float).tolist(),
                              "count": curve["count"].astype(int).tolist()}}
            worst = self.worst(head)
            out[head] = {
                "overall": entries.pop(OVERALL, {}).get(ALL_GROUP),
                "by_group": entries,
                "worst_group": None if worst is None else {
                    "grouping": worst["grouping"], "group": worst["group"],
                    "ece": _number(worst["ece"]), "n": int(worst["n"])},
            }
        return out


def calibrate(frame: pd.DataFrame, classes: dict[str, list[str]], *, n_boot: int,
              rng: np.random.Generator, quantiles: tuple[float, float], min_n: int = 5,
              n_bins: int = N_BINS) -> Calibration:
    """:class:`Calibration` of a checked split (every attribute's groups and overall)."""
    table, curves = calibration_table(frame, classes, n_bins=n_bins, n_boot=n_boot, rng=rng,
                                      quantiles=quantiles)
    return Calibration(table=table, curves=curves, n_bins=n_bins, min_n=min_n)


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _interval(low, high) -> list[float] | None:
    low, high = _number(low), _number(high)
    return None if low is None or high is None else [low, high]
