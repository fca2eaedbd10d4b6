"""Tidy per-group tables: every head's figures for every group, and the gaps.

A *grouping* is a tuple of attributes (``("race",)``, or an intersection such as
``("race", "gender")``); its groups are the combinations of *true* labels present, in
vocabulary order. Point figures come from scikit-learn, split by group with fairlearn's
``MetricFrame``; intervals from the within-group bootstrap. The tables are long (one
row per group x figure) so the CLI, the JSON and the dashboard slice them alike.

Example::

    table = grouping_table(test, ("race", "gender"), classes, n_boot=200, rng=rng,
                           quantiles=(0.025, 0.975))
    compute_gaps(table, min_n=5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from modelkit.evaluate.metrics import (
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    HeadArrays,
    head_arrays,
    head_figures,
    head_intervals,
    head_metric_names,
    interval_columns,
)
from modelkit.evaluate.predictions import (
    EVAL_HEADS,
    GROUP_ATTRIBUTES,
    SOURCE_ATTRIBUTES,
    attribute_values,
    check_head,
)

DEFAULT_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("gender",), ("race",), ("age_group",),
    ("race", "gender"), ("age_group", "gender"), ("age_group", "race"),
)
# Added to the defaults when the table holds an evaluation set's own race classes.
SOURCE_GROUPINGS: tuple[tuple[str, ...], ...] = (("race_source",), ("race_source", "gender"))
GROUP_SEPARATOR = " / "
BY_GROUP_COLUMNS = ["grouping", "group", *GROUP_ATTRIBUTES, "head", "metric", "value",
                    "ci_low", "ci_high", "n", "n_group"]
GAP_COLUMNS = ["grouping", "metric", "best_group", "best", "n_best", "worst_group", "worst",
               "n_worst", "difference", "ratio", "n_groups"]


def grouping_key(grouping: Sequence[str]) -> str:
    """Name of a grouping in tables and JSON: ``race`` or ``race_x_gender``."""
    return "_x_".join(grouping)


def check_groupings(groupings: Sequence[Sequence[str]]) -> None:
    """Raise a ValueError for an attribute outside ``GROUP_ATTRIBUTES`` (and the
    source attributes, ``SOURCE_ATTRIBUTES``)."""
    for grouping in groupings:
        for attribute in grouping:
            check_head(attribute, GROUP_ATTRIBUTES + SOURCE_ATTRIBUTES)


def default_groupings(frame: pd.DataFrame) -> tuple[tuple[str, ...], ...]:
    """``DEFAULT_GROUPINGS`` plus ``SOURCE_GROUPINGS``, keeping those whose attributes
    the table labels (a set without race labels is not grouped by race; a set's own
    classes exist only where its labels were folded into the model's)."""
    def labelled(attribute: str) -> bool:
        column = f"{attribute}_true"
        return column in frame.columns and bool(frame[column].notna().any())
    return tuple(g for g in DEFAULT_GROUPINGS + SOURCE_GROUPINGS if all(map(labelled, g)))


def empty_by_group() -> pd.DataFrame:
    """A by-group table without rows (no grouping, or no labelled group)."""
    return pd.DataFrame(columns=BY_GROUP_COLUMNS)


def overall_table(frame: pd.DataFrame, classes: dict[str, list[str]], *, n_boot: int,
                  rng: np.random.Generator, quantiles: tuple[float, float]) -> pd.DataFrame:
    """One row per head figure over the whole table (the split as one group):
    head, metric, value, ci_low, ci_high, n (rows labelled for the head)."""
    rows = []
    for head in EVAL_HEADS:
        head_classes = classes.get(head)
        mask, y_true, y_pred = head_arrays(frame, head, head_classes)
        names = head_metric_names(head, head_classes, per_class=True)
        values = head_figures(head, head_classes, per_class=True)(y_true[mask], y_pred[mask]) \
            if mask.any() else dict.fromkeys(names, np.nan)
        intervals = head_intervals(head, y_true[mask], y_pred[mask], np.zeros(mask.sum(), int), 1,
                                   head_classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
        for name, value in values.items():
            low, high = interval_columns(intervals.get(name))
            rows.append({"head": head, "metric": name, "value": value,
                         "ci_low": float(np.ravel(low)[0]), "ci_high": float(np.ravel(high)[0]),
                         "n": int(mask.sum())})
    return pd.DataFrame(rows)


def by_group_table(frame: pd.DataFrame, groupings: Sequence[Sequence[str]],
                   classes: dict[str, list[str]], *, n_boot: int, rng: np.random.Generator,
                   quantiles: tuple[float, float]) -> pd.DataFrame:
    """:func:`grouping_table` of every grouping, one after the other."""
    if not groupings:
        return empty_by_group()
    return pd.concat([grouping_table(frame, tuple(g), classes, n_boot=n_boot, rng=rng,
                                     quantiles=quantiles) for g in groupings], ignore_index=True)


def grouping_table(frame: pd.DataFrame, grouping: tuple[str, ...], classes: dict[str, list[str]],
                   *, n_boot: int, rng: np.random.Generator,
                   quantiles: tuple[float, float]) -> pd.DataFrame:
    """Tidy rows (group x figure) of one grouping, every head, with the columns
    ``BY_GROUP_COLUMNS``: the group's true labels (None for attributes outside the
    grouping), the value and interval, ``n`` (group rows labelled for the head) and
    ``n_group`` (all group rows). Per-class recall only for single attributes."""
    columns = [f"{a}_true" for a in grouping]
    groups = _group_values(frame, grouping)
    if groups.empty:
        return empty_by_group()
    group_index = pd.MultiIndex.from_frame(groups[columns])
    in_group = frame[columns].notna().all(axis=1).to_numpy()
    row_group = group_index.get_indexer(pd.MultiIndex.from_frame(frame[columns].fillna("")))
    per_class = len(grouping) == 1
    heads = {h: head_arrays(frame, h, classes.get(h)) for h in EVAL_HEADS}
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
        intervals = head_intervals(head, y_true[mask], y_pred[mask], row_group[mask], len(groups),
                                   head_classes, n_boot=n_boot, rng=rng, quantiles=quantiles)
        for name in names:
            low, high = interval_columns(intervals.get(name))
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
    return long[BY_GROUP_COLUMNS]


def drop_unlabelled_heads(overall: pd.DataFrame, by_group: pd.DataFrame, *,
                          unpredicted: frozenset[str] = frozenset()
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables without the heads no row is labelled for (``n`` 0 overall) and the
    ``unpredicted`` heads (a model without that head): a set without race labels, or a
    gender-only model, has no race figures at all, rather than NaN or zero ones."""
    unlabelled = set(overall.loc[overall["n"] == 0, "head"]) | set(unpredicted)
    return (overall[~overall["head"].isin(unlabelled)].reset_index(drop=True),
            by_group[~by_group["head"].isin(unlabelled)].reset_index(drop=True))


def unpredicted_heads(frame: pd.DataFrame) -> frozenset[str]:
    """The heads with no prediction in any row (the model does not have them)."""
    return frozenset(h for h in EVAL_HEADS if len(frame) and frame[f"{h}_pred"].isna().all())


def compute_gaps(by_group: pd.DataFrame, *, min_n: int = 5,
                 metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Best and worst group of each grouping x metric, their difference and ratio.

    Only groups with at least ``min_n`` labelled rows and a value take part, and a gap
    needs two of them. ``best`` is the highest value (lowest for errors such as age
    MAE); ``difference`` is |best - worst|; ``ratio`` is smaller / larger (1 = parity;
    NaN when the larger is 0). Columns: ``GAP_COLUMNS``.
    """
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
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def _group_values(frame: pd.DataFrame, grouping: tuple[str, ...]) -> pd.DataFrame:
    """The groups present (all grouping attributes labelled), in vocabulary order,
    with their row count ``n_group``."""
    columns = [f"{a}_true" for a in grouping]
    labelled = frame[columns].notna().all(axis=1)
    sizes = frame.loc[labelled].groupby(columns, sort=False).size().rename("n_group").reset_index()
    order = {a: attribute_values(frame, a) for a in grouping}
    sort_keys = [sizes[f"{a}_true"].map({v: i for i, v in enumerate(order[a])}) for a in grouping]
    sizes = sizes.assign(**{f"_k{i}": k for i, k in enumerate(sort_keys)})
    sizes = sizes.sort_values([f"_k{i}" for i in range(len(grouping))]).reset_index(drop=True)
    return sizes[columns + ["n_group"]]


def _all_heads_figures(heads: dict[str, HeadArrays], classes: dict[str, list[str]], *,
                       per_class: bool) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """A MetricFrame metric over *row positions*: reads every head's labels at the
    positions of one group (skipping rows whose label for that head is null) and
    returns all heads' scikit-learn figures. One MetricFrame pass then serves the four
    heads, where one per head cost four times fairlearn's per-group overhead."""
    functions = {h: head_figures(h, classes.get(h), per_class=per_class) for h in heads}

    def figures(positions, _unused) -> dict[str, float]:
        out = {}
        for head, (mask, y_true, y_pred) in heads.items():
            rows = positions[mask[positions]]
            if len(rows):
                out.update(functions[head](y_true[rows], y_pred[rows]))
        return out
    return figures
