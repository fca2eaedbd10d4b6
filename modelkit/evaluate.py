"""Errors per demographic group, from a run's ``predictions.parquet``.

Where does the model fail, and for whom? This module turns the predictions table
(see docs/CONTRACTS.md) into tidy tables: overall and per-group figures for every
head, bootstrap intervals so a small group is not read as a finding, the gap between
the best and the worst group, confusion matrices (rows true, columns predicted), the
worst errors of a group and the age error against true age. No Streamlit here: the
dashboard and the CLI draw what these functions return.

Point figures come from scikit-learn's metrics, split by group with fairlearn's
``MetricFrame``. Intervals are a percentile bootstrap *within each group* (the group's
size fixed, as when asking "how sure are we about this group"). fairlearn's own
``MetricFrame(n_boot=...)`` re-runs every metric through a pandas groupby per resample
and took ~10 s for 100 resamples of one metric on 20,000 rows, too slow for the
dashboard; here a classification resample is one multinomial draw over the group's
confusion-matrix cells (equivalent to resampling its rows) and an age resample one
index draw, both vectorised with numpy.

Example::

    ev = evaluate_run("runs/2024-..", split="test")
    ev.by_group.query("metric == 'race_accuracy'")
    confusion(ev.predictions, "gender", where={"race": "Black"}).matrix
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    median_absolute_error,
    recall_score,
)

from modelkit import labels

PREDICTIONS_FILE = "predictions.parquet"
CLASS_HEADS = ("gender", "race", "age_group")
AGE_HEAD = "age"
EVAL_HEADS = CLASS_HEADS + (AGE_HEAD,)
GROUP_ATTRIBUTES = ("gender", "race", "age_group")
DEFAULT_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("gender",), ("race",), ("age_group",),
    ("race", "gender"), ("age_group", "gender"), ("age_group", "race"),
)
CLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
AGE_METRICS = ("mae", "median_ae")
# The figures compared between groups (gaps, worst-group ranking); per-class recall
# is per-group by construction and stays in the tables.
HEADLINE_METRICS = tuple(f"{h}_{m}" for h in CLASS_HEADS for m in CLASS_METRICS) + tuple(
    f"{AGE_HEAD}_{m}" for m in AGE_METRICS)
LOWER_IS_BETTER = frozenset(f"{AGE_HEAD}_{m}" for m in AGE_METRICS)
REQUIRED_COLUMNS = ("path", "split", "gender_true", "gender_pred", "race_true", "race_pred",
                    "age_group_true", "age_group_pred", "age_true", "age_pred")
GROUP_SEPARATOR = " / "


# ----------------------------------------------------------------------------- loading

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
    """Check the contract's columns and normalise types: labels as object strings with
    None for unknown, ages float, ``age_true_is_midpoint`` bool."""
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}; expected the predictions table "
                         f"of docs/CONTRACTS.md ({', '.join(REQUIRED_COLUMNS)}, ...)")
    frame = predictions.copy()
    for column in ["path", "split"] + [f"{h}_{s}" for h in CLASS_HEADS for s in ("true", "pred")]:
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None).map(
            lambda v: None if v is None else str(v))
    for column in ("age_true", "age_pred"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    midpoint = frame.get("age_true_is_midpoint", pd.Series(False, index=frame.index))
    frame["age_true_is_midpoint"] = midpoint.fillna(False).astype(bool)
    return frame


def available_splits(predictions: pd.DataFrame) -> list[str]:
    """Splits present in the table, in ``labels.SPLITS`` order."""
    present = set(predictions["split"].dropna())
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


# ----------------------------------------------------------------------------- labels

def class_labels(predictions: pd.DataFrame, head: str) -> list[str]:
    """All classes of a classification head, in model order, including ones never seen.

    gender and age group come from ``modelkit.labels``; race from the run's
    ``prob_race_<class>`` columns (the model's classes). Any other value found in the
    table is appended so no row is dropped.
    """
    _check_head(head, CLASS_HEADS)
    if head == "gender":
        known = list(labels.GENDERS)
    elif head == "age_group":
        known = list(labels.AGE_GROUPS)
    else:
        prefix = "prob_race_"
        known = [c[len(prefix):] for c in predictions.columns if c.startswith(prefix)]
    seen = pd.concat([predictions[f"{head}_true"], predictions[f"{head}_pred"]]).dropna().unique()
    return known + sorted(set(seen) - set(known))


def _check_head(head: str, allowed: Sequence[str]) -> None:
    if head not in allowed:
        raise ValueError(f"unknown head {head!r}; expected one of {list(allowed)}")


def _codes(values: pd.Series, classes: list[str]) -> np.ndarray:
    """Integer codes of labels against ``classes``; -1 for None."""
    return pd.Categorical(values, categories=classes).codes.astype(np.int64)


def _where_mask(predictions: pd.DataFrame, where: Mapping[str, str | Sequence[str]] | None) -> np.ndarray:
    """Rows whose *true* attribute labels match ``where`` (e.g. ``{"race": "Black"}``)."""
    mask = np.ones(len(predictions), dtype=bool)
    for attribute, wanted in (where or {}).items():
        _check_head(attribute, GROUP_ATTRIBUTES)
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        mask &= predictions[f"{attribute}_true"].isin(wanted).to_numpy()
    return mask


# ----------------------------------------------------------------------------- metrics

def head_metric_names(head: str, classes: list[str] | None, *, per_class: bool) -> list[str]:
    """Output names of one head's figures, e.g. ``race_accuracy``, ``race_recall_Black``."""
    if head == AGE_HEAD:
        return [f"{AGE_HEAD}_{m}" for m in AGE_METRICS]
    names = [f"{head}_{m}" for m in CLASS_METRICS]
    return names + ([f"{head}_recall_{c}" for c in classes] if per_class else [])


def _head_figures(head: str, classes: list[str] | None, *, per_class: bool) -> Callable:
    """A ``(y_true, y_pred) -> {name: value}`` of sklearn metrics for one head.

    One callable returning every figure (rather than one per figure) keeps
    MetricFrame to a single pass over each group's rows. sklearn warns on groups
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
                out.update({f"{head}_recall_{c}": float(r) for c, r in zip(classes, recall)})
            return out
    return figures


def _bootstrap_classification(conf: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                              quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Percentile intervals of accuracy, balanced accuracy, macro F1 and per-class recall.

    ``conf`` is (groups, K, K) counts. A row resample of a group is a multinomial draw
    over its confusion cells, so all groups and resamples are drawn at once.
    Returns name -> (groups, 2, ...) array of [low, high]; NaN for groups under 2 rows.
    """
    groups, k, _ = conf.shape
    n = conf.sum(axis=(1, 2))
    probs = conf.reshape(groups, k * k) / np.maximum(n, 1)[:, None]
    probs[n == 0, 0] = 1.0  # any valid distribution; masked below
    draws = rng.multinomial(n, probs, size=(n_boot, groups)).reshape(n_boot, groups, k, k).astype(float)
    diag = np.diagonal(draws, axis1=2, axis2=3)
    support, predicted = draws.sum(axis=3), draws.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: absent classes
        recall = np.where(support > 0, diag / support, np.nan)
        present = (support + predicted) > 0
        f1 = np.where(present, 2 * diag / (support + predicted), 0.0)
        stats = {
            "accuracy": diag.sum(axis=2) / n[None, :],
            "balanced_accuracy": np.nanmean(recall, axis=2),
            "macro_f1": f1.sum(axis=2) / present.sum(axis=2),
            "recall": recall,
        }
        out = {}
        for name, values in stats.items():
            interval = np.nanquantile(values, quantiles, axis=0)
            interval = np.moveaxis(interval, 0, -1)  # (groups[, K], 2)
            interval[n < 2] = np.nan
            out[name] = interval
    return out


def _bootstrap_age(errors: np.ndarray, group_codes: np.ndarray, groups: int, *, n_boot: int,
                   rng: np.random.Generator, quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Percentile intervals of MAE and median absolute error per group (groups, 2)."""
    out = {"mae": np.full((groups, 2), np.nan), "median_ae": np.full((groups, 2), np.nan)}
    for g in range(groups):
        group_errors = errors[group_codes == g]
        if len(group_errors) < 2:
            continue
        sample = group_errors[rng.integers(0, len(group_errors), size=(n_boot, len(group_errors)))]
        out["mae"][g] = np.quantile(sample.mean(axis=1), quantiles)
        out["median_ae"][g] = np.quantile(np.median(sample, axis=1), quantiles)
    return out


def _head_arrays(predictions: pd.DataFrame, head: str, classes: list[str] | None):
    """(labelled mask, y_true, y_pred) of one head; class heads as integer codes."""
    if head == AGE_HEAD:
        y_true, y_pred = predictions["age_true"].to_numpy(float), predictions["age_pred"].to_numpy(float)
        return ~np.isnan(y_true) & ~np.isnan(y_pred), y_true, y_pred
    y_true = _codes(predictions[f"{head}_true"], classes)
    y_pred = _codes(predictions[f"{head}_pred"], classes)
    return y_true >= 0, y_true, y_pred


def grouping_key(grouping: Sequence[str]) -> str:
    """Name of a grouping in tables and JSON: ``race`` or ``race_x_gender``."""
    return "_x_".join(grouping)


def _ci_columns(intervals: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if intervals is None:
        return np.nan, np.nan
    return intervals[..., 0], intervals[..., 1]


# ----------------------------------------------------------------------------- result

@dataclass
class Evaluation:
    """Figures of one run's split. Tables are tidy (one row per group x metric).

    Attributes:
        overall: head, metric, value, ci_low, ci_high, n (rows labelled for the head).
        by_group: grouping, group, gender, race, age_group (the group's true labels;
            None for attributes outside the grouping), head, metric, value, ci_low,
            ci_high, n (group rows labelled for the head), n_group (all group rows).
        gaps: grouping, metric, best_group, best, n_best, worst_group, worst, n_worst,
            difference (best - worst, absolute), ratio (smaller / larger), n_groups.
        confusion: head -> ``Confusion`` (counts) over the whole split.
        age_mae_vs_midpoint: True when ages are range midpoints (FairFace): the age
            figures then measure error against the midpoint of the true range.
    """

    split: str
    n: int
    overall: pd.DataFrame
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    confusion: dict[str, Confusion]
    age_mae_vs_midpoint: bool
    predictions: pd.DataFrame = field(repr=False)
    settings: dict = field(default_factory=dict)

    def overall_value(self, metric: str) -> float:
        """The overall value of ``metric`` (NaN when not computable)."""
        row = self.overall[self.overall["metric"] == metric]
        return float(row["value"].iloc[0]) if len(row) else float("nan")

    def worst_groups(self, metric: str, *, min_n: int = 1, k: int | None = None) -> pd.DataFrame:
        """Groups ranked worst first on ``metric``, with their shortfall from overall.

        ``shortfall`` is how much worse than overall the group is (positive = worse),
        whichever direction the metric runs. Groups under ``min_n`` labelled rows or
        without a value are left out.
        """
        if metric not in set(self.by_group["metric"]):
            raise ValueError(f"unknown metric {metric!r}; expected one of "
                             f"{sorted(set(self.by_group['metric']))}")
        rows = self.by_group[(self.by_group["metric"] == metric) & (self.by_group["n"] >= min_n)
                             & self.by_group["value"].notna()].copy()
        overall = self.overall_value(metric)
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
        rows["overall"] = overall
        rows["shortfall"] = sign * (rows["value"] - overall)
        rows = rows.sort_values(["shortfall", "n"], ascending=[False, False])
        columns = ["grouping", "group", "metric", "value", "ci_low", "ci_high", "n", "overall",
                   "shortfall"]
        return rows[columns].head(k).reset_index(drop=True) if k else rows[columns].reset_index(drop=True)

    def to_json_dict(self) -> dict:
        """The CLI's ``--json`` object (see issue 5): overall, by_group, confusion, gaps.

        Groups are keyed by their true label (``"Black / female"`` for intersections,
        under ``"race_x_gender"``); every metric key is present, null when it cannot be
        computed.
        """
        overall = {"n": self.n, "age_mae_vs_midpoint": self.age_mae_vs_midpoint}
        overall.update({m: _json_number(self.overall_value(m)) for m in self.overall["metric"]})
        overall["ci"] = {r.metric: _json_interval(r.ci_low, r.ci_high) for r in self.overall.itertuples()}
        by_group: dict = {key: {} for key in self.settings.get("groupings", [])}
        for (key, group), rows in self.by_group.groupby(["grouping", "group"], sort=False):
            entry = {"n": int(rows["n_group"].iloc[0]),
                     "n_labelled": {h: int(rows.loc[rows["head"] == h, "n"].max())
                                    if (rows["head"] == h).any() else 0 for h in EVAL_HEADS}}
            entry.update({m: _json_number(v) for m, v in zip(rows["metric"], rows["value"])})
            entry["ci"] = {r.metric: _json_interval(r.ci_low, r.ci_high) for r in rows.itertuples()}
            by_group.setdefault(key, {})[group] = entry
        gaps: dict = {}
        for row in self.gaps.itertuples():
            gaps.setdefault(row.grouping, {})[row.metric] = {
                "best_group": row.best_group, "best": _json_number(row.best),
                "n_best": _json_int(row.n_best), "worst_group": row.worst_group,
                "worst": _json_number(row.worst), "n_worst": _json_int(row.n_worst),
                "difference": _json_number(row.difference), "ratio": _json_number(row.ratio),
                "n_groups": int(row.n_groups),
                "higher_is_better": row.metric not in LOWER_IS_BETTER,
            }
        return {
            "split": self.split,
            "n": self.n,
            "age_mae_vs_midpoint": self.age_mae_vs_midpoint,
            "overall": overall,
            "by_group": by_group,
            "confusion": {h: c.to_json_dict() for h, c in self.confusion.items()},
            "gaps": gaps,
            "settings": self.settings,
        }


def _json_number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _json_int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _json_interval(low, high) -> list[float] | None:
    low, high = _json_number(low), _json_number(high)
    return None if low is None or high is None else [low, high]


# ----------------------------------------------------------------------------- evaluate

def evaluate(
    predictions: pd.DataFrame,
    *,
    split: str | None = None,
    groupings: Sequence[Sequence[str]] = DEFAULT_GROUPINGS,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    gap_min_n: int = 5,
) -> Evaluation:
    """Overall and per-group figures of one split of a predictions table.

    Args:
        predictions: the run's predictions table (all splits, or one).
        split: ``val`` or ``test``; default ``test`` when present, else ``val``.
        groupings: attribute tuples to group by (true labels); intersections allowed.
        n_boot: bootstrap resamples per group (0 for no intervals).
        ci: interval coverage (0.95: the 2.5th and 97.5th percentiles).
        seed: bootstrap seed (same seed, same intervals).
        gap_min_n: groups with fewer labelled rows are left out of the gaps, so one
            image cannot make the headline gap; they stay in the tables with their n.

    Rows whose true label of a head is null are left out of that head's figures; a
    figure with no rows is NaN.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    for grouping in groupings:
        for attribute in grouping:
            _check_head(attribute, GROUP_ATTRIBUTES)
    frame, split = select_split(check_predictions(predictions), split)
    quantiles = ((1 - ci) / 2, 1 - (1 - ci) / 2)
    rng = np.random.default_rng(seed)
    classes = {h: class_labels(frame, h) for h in CLASS_HEADS}
    overall = _overall_table(frame, classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
    by_group = pd.concat(
        [_grouping_table(frame, tuple(g), classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
         for g in groupings], ignore_index=True) if groupings else _empty_by_group()
    used_ages = frame.loc[frame["age_true"].notna(), "age_true_is_midpoint"]
    return Evaluation(
        split=split,
        n=len(frame),
        overall=overall,
        by_group=by_group,
        gaps=compute_gaps(by_group, min_n=gap_min_n),
        confusion={h: confusion(frame, h) for h in CLASS_HEADS},
        age_mae_vs_midpoint=bool(used_ages.any()),
        predictions=frame,
        settings={"n_boot": n_boot, "ci": ci, "seed": seed, "gap_min_n": gap_min_n,
                  "groupings": [grouping_key(g) for g in groupings]},
    )


def evaluate_run(run_dir: str | os.PathLike, *, split: str | None = None, **kwargs) -> Evaluation:
    """``evaluate`` on a run folder's predictions table."""
    return evaluate(load_predictions(run_dir), split=split, **kwargs)


def _overall_table(frame, classes, *, n_boot, rng, quantiles) -> pd.DataFrame:
    """One row per head metric over the whole split, intervals included."""
    rows = []
    for head in EVAL_HEADS:
        head_classes = classes.get(head)
        mask, y_true, y_pred = _head_arrays(frame, head, head_classes)
        names = head_metric_names(head, head_classes, per_class=True)
        values = _head_figures(head, head_classes, per_class=True)(y_true[mask], y_pred[mask]) \
            if mask.any() else dict.fromkeys(names, np.nan)
        intervals = _intervals(head, y_true[mask], y_pred[mask], np.zeros(mask.sum(), int), 1,
                               head_classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
        for name, value in values.items():
            low, high = _ci_columns(intervals.get(name))
            rows.append({"head": head, "metric": name, "value": value,
                         "ci_low": float(np.ravel(low)[0]), "ci_high": float(np.ravel(high)[0]),
                         "n": int(mask.sum())})
    return pd.DataFrame(rows)


def _intervals(head, y_true, y_pred, group_codes, groups, classes, *, n_boot, rng, quantiles):
    """metric name -> (groups, 2) intervals for one head."""
    if n_boot <= 0 or len(y_true) == 0:
        return {}
    if head == AGE_HEAD:
        boot = _bootstrap_age(np.abs(y_pred - y_true), group_codes, groups, n_boot=n_boot,
                              rng=rng, quantiles=quantiles)
        return {f"age_{m}": boot[m] for m in AGE_METRICS}
    k = len(classes)
    pred = np.where(y_pred >= 0, y_pred, 0)  # a null prediction counts against class 0
    conf = np.bincount(group_codes * k * k + y_true * k + pred, minlength=groups * k * k)
    boot = _bootstrap_classification(conf.reshape(groups, k, k), n_boot=n_boot, rng=rng,
                                     quantiles=quantiles)
    out = {f"{head}_{m}": boot[m] for m in CLASS_METRICS}
    for code, name in enumerate(classes):
        out[f"{head}_recall_{name}"] = boot["recall"][:, code]
    return out


def _group_values(frame: pd.DataFrame, grouping: tuple[str, ...]) -> pd.DataFrame:
    """The groups present (all grouping attributes labelled), in vocabulary order,
    with their row count ``n_group``."""
    columns = [f"{a}_true" for a in grouping]
    labelled = frame[columns].notna().all(axis=1)
    sizes = frame.loc[labelled].groupby(columns, sort=False).size().rename("n_group").reset_index()
    order = {a: class_labels(frame, a) for a in grouping}
    sort_keys = [sizes[f"{a}_true"].map({v: i for i, v in enumerate(order[a])}) for a in grouping]
    sizes = sizes.assign(**{f"_k{i}": k for i, k in enumerate(sort_keys)})
    sizes = sizes.sort_values([f"_k{i}" for i in range(len(grouping))]).reset_index(drop=True)
    return sizes[columns + ["n_group"]]


def _all_heads_figures(heads: dict, classes: dict, *, per_class: bool) -> Callable:
    """A MetricFrame metric over *row positions*: reads every head's labels at the
    positions of one group (skipping rows whose label for that head is null) and
    returns all heads' sklearn figures. One MetricFrame pass then serves the four
    heads, where one per head cost four times fairlearn's per-group overhead."""
    functions = {h: _head_figures(h, classes.get(h), per_class=per_class) for h in heads}

    def figures(positions, _unused) -> dict[str, float]:
        out = {}
        for head, (mask, y_true, y_pred) in heads.items():
            rows = positions[mask[positions]]
            if len(rows):
                out.update(functions[head](y_true[rows], y_pred[rows]))
        return out
    return figures


def _grouping_table(frame, grouping, classes, *, n_boot, rng, quantiles) -> pd.DataFrame:
    """Tidy rows (group x metric) of one grouping, every head: point figures from
    sklearn split by fairlearn's MetricFrame, intervals from the group bootstrap."""
    columns = [f"{a}_true" for a in grouping]
    groups = _group_values(frame, grouping)
    if groups.empty:
        return _empty_by_group()
    group_index = pd.MultiIndex.from_frame(groups[columns])
    in_group = frame[columns].notna().all(axis=1).to_numpy()
    row_group = group_index.get_indexer(pd.MultiIndex.from_frame(frame[columns].fillna("")))
    per_class = len(grouping) == 1
    heads = {h: _head_arrays(frame, h, classes.get(h)) for h in EVAL_HEADS}
    positions = np.flatnonzero(in_group)
    by = MetricFrame(
        metrics={"figures": _all_heads_figures(heads, classes, per_class=per_class)},
        y_true=positions, y_pred=positions,
        sensitive_features=frame.loc[in_group, columns].reset_index(drop=True),
    ).by_group
    # MetricFrame indexes every combination of the levels; absent ones hold NaN.
    by = by[by["figures"].map(lambda cell: isinstance(cell, dict))]
    found = pd.DataFrame(list(by["figures"]), index=pd.MultiIndex.from_arrays(
        [by.index.get_level_values(i) for i in range(by.index.nlevels)]))
    tables = []
    for head, (mask, y_true, y_pred) in heads.items():
        head_classes = classes.get(head)
        mask = mask & in_group
        names = head_metric_names(head, head_classes, per_class=per_class)
        values = pd.DataFrame(np.nan, index=group_index, columns=names)
        known = [n for n in names if n in found.columns]
        values.loc[found.index, known] = found[known].astype(float)
        counts = np.bincount(row_group[mask], minlength=len(groups))
        intervals = _intervals(head, y_true[mask], y_pred[mask], row_group[mask], len(groups),
                               head_classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
        for name in names:
            low, high = _ci_columns(intervals.get(name))
            tables.append(pd.DataFrame({
                "group_index": np.arange(len(groups)), "head": head, "metric": name,
                "value": values[name].to_numpy(float),
                "ci_low": np.broadcast_to(low, len(groups)).astype(float),
                "ci_high": np.broadcast_to(high, len(groups)).astype(float),
                "n": counts,
            }))
    long = pd.concat(tables, ignore_index=True)
    labels_frame = pd.DataFrame({
        "grouping": grouping_key(grouping),
        "group": groups[columns].astype(str).agg(GROUP_SEPARATOR.join, axis=1),
        **{a: (groups[f"{a}_true"] if a in grouping else None) for a in GROUP_ATTRIBUTES},
        "n_group": groups["n_group"].astype(int),
    })
    long = long.join(labels_frame, on="group_index").drop(columns="group_index")
    return long[_BY_GROUP_COLUMNS]


_BY_GROUP_COLUMNS = ["grouping", "group", *GROUP_ATTRIBUTES, "head", "metric", "value",
                     "ci_low", "ci_high", "n", "n_group"]


def _empty_by_group() -> pd.DataFrame:
    return pd.DataFrame(columns=_BY_GROUP_COLUMNS)


def compute_gaps(by_group: pd.DataFrame, *, min_n: int = 5,
                 metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Best and worst group of each grouping x metric, their difference and ratio.

    Only groups with at least ``min_n`` labelled rows and a value take part, and a
    gap needs two of them. ``best``
    is the highest value (lowest for errors such as age MAE); ``difference`` is
    |best - worst|; ``ratio`` is smaller / larger (1 = parity; NaN when the larger is 0).
    """
    columns = ["grouping", "metric", "best_group", "best", "n_best", "worst_group", "worst",
               "n_worst", "difference", "ratio", "n_groups"]
    eligible = by_group[by_group["metric"].isin(metrics) & (by_group["n"] >= min_n)
                        & by_group["value"].notna()]
    rows = []
    for (key, metric), table in eligible.groupby(["grouping", "metric"], sort=False):
        if len(table) < 2:
            continue  # a gap needs two groups
        low_row, high_row = table.loc[table["value"].idxmin()], table.loc[table["value"].idxmax()]
        best, worst = (low_row, high_row) if metric in LOWER_IS_BETTER else (high_row, low_row)
        larger = max(abs(best["value"]), abs(worst["value"]))
        rows.append({
            "grouping": key, "metric": metric,
            "best_group": best["group"], "best": float(best["value"]), "n_best": int(best["n"]),
            "worst_group": worst["group"], "worst": float(worst["value"]), "n_worst": int(worst["n"]),
            "difference": abs(float(best["value"]) - float(worst["value"])),
            "ratio": min(abs(best["value"]), abs(worst["value"])) / larger if larger else np.nan,
            "n_groups": len(table),
        })
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- drill-downs

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


def confusion(
    predictions: pd.DataFrame,
    head: str,
    *,
    normalize: bool = False,
    where: Mapping[str, str | Sequence[str]] | None = None,
) -> Confusion:
    """Confusion matrix of a classification head, rows true, columns predicted, over
    every class of the head (a class never predicted still gets its column).

    Args:
        head: ``gender``, ``race`` or ``age_group``.
        normalize: divide each row by its total (the share of each true class).
        where: keep rows whose true labels match, e.g. ``{"race": "Black"}`` or
            ``{"gender": "female", "age_group": ["60-69", "70+"]}``.

    Rows with no true label for the head are left out.
    """
    _check_head(head, CLASS_HEADS)
    frame = check_predictions(predictions) if "age_true_is_midpoint" not in predictions else predictions
    classes = class_labels(frame, head)
    rows = frame[_where_mask(frame, where) & frame[f"{head}_true"].notna().to_numpy()]
    codes = list(range(len(classes)))
    if len(rows):
        counts = confusion_matrix(_codes(rows[f"{head}_true"], classes),
                                  _codes(rows[f"{head}_pred"], classes), labels=codes)
    else:
        counts = np.zeros((len(classes), len(classes)), dtype=int)
    matrix = counts.astype(float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        matrix = np.divide(counts, totals, out=np.zeros_like(matrix), where=totals > 0)
    return Confusion(head=head, labels=classes, matrix=matrix if normalize else counts,
                     counts=counts, normalized=normalize, where=dict(where or {}))


def worst_errors(
    predictions: pd.DataFrame,
    head: str,
    group_filter: Mapping[str, str | Sequence[str]] | None = None,
    k: int = 12,
) -> pd.DataFrame:
    """The ``k`` worst errors of a head among rows matching ``group_filter``.

    Class heads: wrong predictions, most confident first (``confidence`` = the
    predicted class's probability, ``prob_<head>_<class>``). Age: largest absolute
    error in years first. Columns: path, split, true, pred, confidence, error.
    """
    _check_head(head, EVAL_HEADS)
    frame = check_predictions(predictions) if "age_true_is_midpoint" not in predictions else predictions
    frame = frame[_where_mask(frame, group_filter)]
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


def mae_by_true_age(
    predictions: pd.DataFrame,
    *,
    bin_width: int = 5,
    where: Mapping[str, str | Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Age error against true age, in bins of ``bin_width`` years (open last bin at 90).

    Columns: bin (label such as ``20-24``), bin_start, n, mae, median_ae, bias (mean
    of predicted - true: negative = the model guesses too young). When true ages are
    range midpoints, the bins are the age groups instead.
    """
    if bin_width < 1:
        raise ValueError(f"bin_width must be a positive number of years, got {bin_width}")
    frame = check_predictions(predictions) if "age_true_is_midpoint" not in predictions else predictions
    frame = frame[_where_mask(frame, where)]
    rows = frame[frame["age_true"].notna() & frame["age_pred"].notna()]
    if rows["age_true_is_midpoint"].all() and len(rows):
        edges = list(labels.AGE_GROUP_EDGES) + [np.inf]
        names = list(labels.AGE_GROUPS)
    else:
        edges = list(range(0, 90 + bin_width, bin_width))[: 90 // bin_width + 1] + [np.inf]
        names = [f"{lo}-{lo + bin_width - 1}" for lo in edges[:-2]] + [f"{edges[-2]}+"]
    bins = pd.cut(rows["age_true"], bins=edges, right=False, labels=names)
    signed = rows["age_pred"] - rows["age_true"]
    table = pd.DataFrame({"bin": bins, "abs": signed.abs(), "signed": signed}).groupby(
        "bin", observed=True).agg(n=("abs", "size"), mae=("abs", "mean"),
                                  median_ae=("abs", "median"), bias=("signed", "mean"))
    table = table.reset_index()
    table["bin_start"] = table["bin"].map(dict(zip(names, edges[:-1]))).astype(float)
    table["bin"] = table["bin"].astype(str)
    return table[["bin", "bin_start", "n", "mae", "median_ae", "bias"]]

