"""The result of comparing runs: :class:`Comparison`, its tidy tables and its JSON
(``python -m modelkit compare --json``; shape in docs/CONTRACTS.md).

The tables are long, one row per compared run x group x figure, as fairlearn's
``MetricFrame`` keeps ``overall`` beside ``by_group``:

- ``figures`` (``FIGURE_COLUMNS``): ``run`` (the run compared with the baseline),
  ``grouping`` (``overall``, ``gender``, ``race``, ``age_group``), ``group`` (``all``
  for overall), ``head``, ``metric``, ``n`` (shared faces labelled for the head),
  ``baseline``, ``other``, ``difference`` (other - baseline), the paired interval
  ``ci_low``/``ci_high``, ``excludes_zero`` and ``higher_is_better``;
- ``gaps`` (``GAP_COLUMNS``): per attribute x figure, each run's gap (best - worst
  group, absolute) with its best and worst group, the change in the gap and its
  paired interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from modelkit.evaluate.calibration import CALIBRATED_HEADS, CALIBRATION_METRICS, OVERALL
from modelkit.evaluate.compare.inputs import RunRef
from modelkit.evaluate.metrics import HEADLINE_METRICS
from modelkit.evaluate.metrics import LOWER_IS_BETTER as ERROR_METRICS
from modelkit.evaluate.result import json_interval, json_number

CALIBRATION_NAMES = tuple(f"{h}_{m}" for h in CALIBRATED_HEADS for m in CALIBRATION_METRICS)
LOWER_IS_BETTER = frozenset(ERROR_METRICS | set(CALIBRATION_NAMES))
GAP_METRICS = HEADLINE_METRICS + CALIBRATION_NAMES
FIGURE_COLUMNS = ["run", "grouping", "group", "head", "metric", "n", "baseline", "other",
                  "difference", "ci_low", "ci_high", "excludes_zero", "higher_is_better"]
GAP_COLUMNS = ["run", "grouping", "metric", "head", "n_groups", "baseline_gap", "baseline_best",
               "baseline_worst", "other_gap", "other_best", "other_worst", "difference", "ci_low",
               "ci_high", "excludes_zero"]


def empty_figures() -> pd.DataFrame:
    return pd.DataFrame(columns=FIGURE_COLUMNS)


def empty_gaps() -> pd.DataFrame:
    return pd.DataFrame(columns=GAP_COLUMNS)


def is_years(metric: str) -> bool:
    """Age errors are in years; every other figure is a share (0..1)."""
    return metric in ERROR_METRICS


@dataclass
class PairInfo:
    """One run compared with the baseline: how many images each holds and share, the
    train settings that differ, what was left out and other notes."""

    id: str
    run_dir: Path
    n_baseline: int
    n_other: int
    n_shared: int
    config_differences: dict[str, tuple] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    """Runs compared with a baseline on one split (see the module docstring)."""

    split: str
    baseline: RunRef
    n_baseline: int
    pairs: list[PairInfo]
    not_comparable: list[dict]
    figures: pd.DataFrame
    gaps: pd.DataFrame
    settings: dict = field(default_factory=dict)

    @property
    def run_ids(self) -> list[str]:
        """The compared runs (not the baseline), in the order given."""
        return [p.id for p in self.pairs]

    @property
    def overall(self) -> pd.DataFrame:
        return self.figures[self.figures["grouping"] == OVERALL].reset_index(drop=True)

    @property
    def by_group(self) -> pd.DataFrame:
        return self.figures[self.figures["grouping"] != OVERALL].reset_index(drop=True)

    def pair(self, run: str) -> PairInfo:
        """The :class:`PairInfo` of a compared run (ValueError naming the runs)."""
        for info in self.pairs:
            if info.id == run:
                return info
        raise ValueError(f"{run!r} was not compared; compared runs: {self.run_ids}")

    def significant(self, *, run: str | None = None) -> pd.DataFrame:
        """The changes whose interval excludes 0, largest first (shares, then age
        errors in years), with ``better`` (True when the change is an improvement)."""
        rows = self.figures[self.figures["excludes_zero"].astype(bool)]
        if run is not None:
            rows = rows[rows["run"] == run]
        rows = rows.assign(
            better=(rows["difference"] > 0) == rows["higher_is_better"].astype(bool),
            _years=rows["metric"].map(is_years), _size=rows["difference"].abs())
        return rows.sort_values(["_years", "_size"], ascending=[True, False]).drop(
            columns=["_years", "_size"]).reset_index(drop=True)

    def to_json_dict(self) -> dict:
        """The ``compare --json`` object; never NaN (null instead)."""
        overall: dict = {run: {} for run in self.run_ids}
        by_group: dict = {run: {} for run in self.run_ids}
        for row in self.figures.itertuples():
            entry = {"n": int(row.n), "baseline": json_number(row.baseline),
                     "other": json_number(row.other), "difference": json_number(row.difference),
                     "ci": json_interval(row.ci_low, row.ci_high),
                     "excludes_zero": bool(row.excludes_zero),
                     "higher_is_better": bool(row.higher_is_better)}
            if row.grouping == OVERALL:
                overall[row.run][row.metric] = entry
            else:
                by_group[row.run].setdefault(row.grouping, {}).setdefault(row.group, {})[row.metric] = entry
        gaps: dict = {run: {} for run in self.run_ids}
        for row in self.gaps.itertuples():
            gaps[row.run].setdefault(row.grouping, {})[row.metric] = {
                "n_groups": int(row.n_groups),
                "baseline": {"gap": json_number(row.baseline_gap), "best_group": row.baseline_best,
                             "worst_group": row.baseline_worst},
                "other": {"gap": json_number(row.other_gap), "best_group": row.other_best,
                          "worst_group": row.other_worst},
                "difference": json_number(row.difference),
                "ci": json_interval(row.ci_low, row.ci_high),
                "excludes_zero": bool(row.excludes_zero),
            }
        return {
            "split": self.split,
            "baseline": {"id": self.baseline.id, "run_dir": str(self.baseline.run_dir),
                         "n": self.n_baseline},
            "runs": [{"id": p.id, "run_dir": str(p.run_dir), "n": p.n_other, "n_shared": p.n_shared,
                      "config_differences": {k: list(v) for k, v in p.config_differences.items()},
                      "left_out": p.left_out, "notes": p.notes} for p in self.pairs],
            "not_comparable": self.not_comparable,
            "overall": overall,
            "by_group": by_group,
            "gaps": gaps,
            "settings": self.settings,
        }
