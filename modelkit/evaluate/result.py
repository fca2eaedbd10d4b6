"""The evaluation of one run's split: the :class:`Evaluation` object, how
:func:`evaluate` builds it, and its JSON (the CLI's ``--json``).

Example::

    ev = evaluate_run("runs/2024-..", split="test")
    ev.by_group.query("metric == 'race_accuracy'")
    ev.worst_groups("age_mae", min_n=5, k=10)
    json.dumps(ev.to_json_dict(), allow_nan=False)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from modelkit.evaluate import bootstrap
from modelkit.evaluate.calibration import Calibration, calibrate
from modelkit.evaluate.drilldown import Confusion, confusion
from modelkit.evaluate.groups import (
    by_group_table,
    check_groupings,
    compute_gaps,
    default_groupings,
    drop_unlabelled_heads,
    grouping_key,
    overall_table,
    unpredicted_heads,
)
from modelkit.evaluate.metrics import LOWER_IS_BETTER
from modelkit.evaluate.predictions import (
    CLASS_HEADS,
    EVAL_HEADS,
    check_predictions,
    class_labels,
    load_predictions,
    select_split,
)

# Bootstrap resamples per group of an evaluation (the CLI, the pages and reports).
DEFAULT_N_BOOT = 200


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
        predictions: the split's rows, checked.
        settings: n_boot, ci, seed, gap_min_n and the grouping keys used.
        calibration: per-group calibration of the gender and race heads (ECE, Brier,
            reliability curves; :mod:`modelkit.evaluate.calibration`).
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
    calibration: Calibration | None = field(default=None, repr=False)

    @property
    def heads(self) -> list[str]:
        """The heads with figures (a model without a head, or a set without its labels,
        has none for it), in ``EVAL_HEADS`` order."""
        present = set(self.overall["head"])
        return [h for h in EVAL_HEADS if h in present]

    def overall_value(self, metric: str) -> float:
        """The overall value of ``metric`` (NaN when not computable)."""
        row = self.overall[self.overall["metric"] == metric]
        return float(row["value"].iloc[0]) if len(row) else float("nan")

    def worst_groups(self, metric: str, *, min_n: int = 1, k: int | None = None) -> pd.DataFrame:
        """Groups ranked worst first on ``metric``, with their shortfall from overall.

        ``shortfall`` is how much worse than overall the group is (positive = worse),
        whichever direction the metric runs. Groups under ``min_n`` labelled rows or
        without a value are left out.

        Raises:
            ValueError: ``metric`` is not in the by-group table (the message lists them).
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
        rows = rows[columns].reset_index(drop=True)
        return rows.head(k) if k else rows

    def to_json_dict(self) -> dict:
        """The CLI's ``--json`` object: split, n, overall, by_group, confusion, gaps,
        settings, calibration (shape in docs/CONTRACTS.md).

        Groups are keyed by their true label (``"Black / female"`` for intersections,
        under ``"race_x_gender"``); every metric key is present, null when it cannot be
        computed (never NaN, so ``json.dumps(..., allow_nan=False)`` holds).
        """
        overall = {"n": self.n, "age_mae_vs_midpoint": self.age_mae_vs_midpoint}
        overall.update({m: json_number(self.overall_value(m)) for m in self.overall["metric"]})
        overall["ci"] = {r.metric: json_interval(r.ci_low, r.ci_high) for r in self.overall.itertuples()}
        by_group: dict = {key: {} for key in self.settings.get("groupings", [])}
        for (key, group), rows in self.by_group.groupby(["grouping", "group"], sort=False):
            entry = {"n": int(rows["n_group"].iloc[0]),
                     "n_labelled": {h: int(rows.loc[rows["head"] == h, "n"].max())
                                    if (rows["head"] == h).any() else 0 for h in EVAL_HEADS}}
            entry.update({m: json_number(v) for m, v in zip(rows["metric"], rows["value"], strict=True)})
            entry["ci"] = {r.metric: json_interval(r.ci_low, r.ci_high) for r in rows.itertuples()}
            by_group.setdefault(key, {})[group] = entry
        gaps: dict = {}
        for row in self.gaps.itertuples():
            gaps.setdefault(row.grouping, {})[row.metric] = {
                "best_group": row.best_group, "best": json_number(row.best),
                "n_best": json_int(row.n_best), "worst_group": row.worst_group,
                "worst": json_number(row.worst), "n_worst": json_int(row.n_worst),
                "difference": json_number(row.difference), "ratio": json_number(row.ratio),
                "n_groups": int(row.n_groups),
                "higher_is_better": row.metric not in LOWER_IS_BETTER,
            }
        return {
            "split": self.split,
            "n": self.n,
            "age_mae_vs_midpoint": self.age_mae_vs_midpoint,
            "overall": overall,
            "by_group": by_group,
            "confusion": {h: c.to_json_dict() for h, c in self.confusion.items() if c.n},
            "gaps": gaps,
            "settings": self.settings,
            "calibration": self.calibration.to_json_dict() if self.calibration else None,
        }


def json_number(value) -> float | None:
    """A float for JSON: None for None or NaN."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def json_int(value) -> int | None:
    """An int for JSON: None for None or NaN."""
    return None if value is None or pd.isna(value) else int(value)


def json_interval(low, high) -> list[float] | None:
    """``[low, high]`` for JSON, or None when either end is missing."""
    low, high = json_number(low), json_number(high)
    return None if low is None or high is None else [low, high]


def evaluate(
    predictions: pd.DataFrame,
    *,
    split: str | None = None,
    groupings: Sequence[Sequence[str]] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    ci: float = 0.95,
    seed: int = 0,
    gap_min_n: int = 5,
) -> Evaluation:
    """Overall and per-group figures of one split of a predictions table.

    Args:
        predictions: the run's predictions table (all splits, or one).
        split: ``val`` or ``test``; default ``test`` when present, else ``val``.
        groupings: attribute tuples to group by (true labels); intersections allowed.
            Default ``DEFAULT_GROUPINGS``, plus ``SOURCE_GROUPINGS`` for a table that
            holds an evaluation set's own race classes.
        n_boot: bootstrap resamples per group (0 for no intervals).
        ci: interval coverage (0.95: the 2.5th and 97.5th percentiles).
        seed: bootstrap seed (same seed, same intervals).
        gap_min_n: groups with fewer labelled rows are left out of the gaps, so one
            image cannot make the headline gap; they stay in the tables with their n.

    Rows whose true label of a head is null are left out of that head's figures; a
    figure with no rows is NaN. A head that no row of the split is labelled for (a set
    without race labels) has no figures at all: absent, not NaN.

    Raises:
        ValueError: a bad ``ci``, grouping attribute, split or missing column.
    """
    quantiles = bootstrap.interval_quantiles(ci)
    if groupings is not None:
        check_groupings(groupings)
    frame, split = select_split(check_predictions(predictions), split)
    groupings = default_groupings(frame) if groupings is None else groupings
    rng = np.random.default_rng(seed)
    classes = {h: class_labels(frame, h) for h in CLASS_HEADS}
    overall = overall_table(frame, classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
    by_group = by_group_table(frame, groupings, classes, n_boot=n_boot, rng=rng,
                              quantiles=quantiles)
    overall, by_group = drop_unlabelled_heads(overall, by_group,
                                              unpredicted=unpredicted_heads(frame))
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
        calibration=calibrate(frame, classes, n_boot=n_boot, rng=rng, quantiles=quantiles,
                              min_n=gap_min_n),
    )


def evaluate_run(run_dir: str | os.PathLike, *, split: str | None = None, **kwargs) -> Evaluation:
    """:func:`evaluate` on a run folder's predictions table (keywords passed on).

    Raises:
        FileNotFoundError: the run folder or its predictions are missing.
    """
    return evaluate(load_predictions(run_dir), split=split, **kwargs)
