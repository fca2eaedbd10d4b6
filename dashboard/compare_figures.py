"""The Compare page's Plotly figures: per-group "dumbbells" (baseline -> other run) with
the paired interval of each change, and the same for the gaps between groups; and the
display forms of its tables (values as percentages or years, intervals as text).

Each figure takes rows of ``modelkit.evaluate.compare.runs``'s tidy tables and draws them;
the baseline in the first run colour, each compared run in its own, as on the
Evaluate page. Two panels share the group axis: the values (a line from the baseline
dot to the run's diamond) and the change itself with its paired interval and a line
at 0. A change whose interval excludes 0 is drawn solid; one that does not, hollow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.evaluate_figures import head_title
from dashboard.evaluate_figures import metric_title as evaluate_metric_title
from dashboard.titles import ATTRIBUTE_TITLES, run_color
from modelkit.evaluate.compare.result import is_years

ROW_HEIGHT = 30
MIN_HEIGHT = 260
ZERO_COLOR = "#6b7280"


def metric_title(metric: str, *, short: bool = False) -> str:
    """``race_ece`` -> ``Race calibration error (ECE)`` (``short``: ``Race ECE``); the
    Evaluate page's titles for the other figures."""
    for suffix, words, brief in (("_ece", "calibration error (ECE)", "ECE"),
                                 ("_brier", "Brier score", "Brier")):
        if metric.endswith(suffix):
            return f"{head_title(metric[:-len(suffix)])} {brief if short else words}"
    return evaluate_metric_title(metric)


def value_format(metric: str) -> tuple[str, str]:
    """(hover format, axis tick format): shares as percentages, age errors in years."""
    return (".2f", ".1f") if is_years(metric) else (".1%", ".0%")


def format_value(metric: str, value: float, *, signed: bool = False) -> str:
    """A value as the page shows it: ``81.2%`` / ``+3.1 pts`` or ``6.42 y`` / ``-0.40 y``."""
    if value is None or pd.isna(value):
        return "n/a"
    if is_years(metric):
        return f"{value:+.2f} y" if signed else f"{value:.2f} y"
    return f"{100 * value:+.1f} pts" if signed else f"{value:.1%}"


def dumbbell_figure(rows: pd.DataFrame, *, metric: str, baseline: str, runs: list[str],
                    title: str, ci: float, small_n: int = 0, value_title: str | None = None) -> go.Figure:
    """Baseline -> each run, one line of the chart per group (top to bottom in the
    order of ``rows``), values left and the change with its paired interval right.

    Args:
        rows: one row per run x group: ``run``, ``group`` (the label shown, n included),
            ``n``, ``baseline``, ``other``, ``difference``, ``ci_low``, ``ci_high``,
            ``excludes_zero``.
        runs: the compared runs, in colour order (the baseline takes colour 0).
        small_n: groups of fewer faces are drawn faded (their intervals are wide).
        value_title: what the left panel's values are (default: the metric's title).
    """
    groups = list(dict.fromkeys(rows["group"]))
    hover, ticks = value_format(metric)
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.56, 0.44],
                           horizontal_spacing=0.03,
                           subplot_titles=(f"{value_title or metric_title(metric)}: {baseline} → run",
                                           f"change (run − {baseline}), {round(100 * ci)}% paired interval"))
    slots = len(runs)
    for index, run in enumerate(runs):
        mine = rows[rows["run"] == run].set_index("group").reindex(groups)
        y = np.arange(len(groups)) + (index - (slots - 1) / 2) * (0.7 / max(slots, 1))
        color = run_color(index + 1)
        base, other = mine["baseline"].to_numpy(float), mine["other"].to_numpy(float)
        low, high = mine["ci_low"].to_numpy(float), mine["ci_high"].to_numpy(float)
        solid = mine["excludes_zero"].fillna(False).astype(bool).to_numpy()
        faint = np.where(mine["n"].fillna(0).to_numpy() < small_n, 0.35, 1.0).tolist()
        lines_x = np.column_stack([base, other, np.full(len(groups), np.nan)]).ravel()
        lines_y = np.column_stack([y, y, np.full(len(groups), np.nan)]).ravel()
        figure.add_scatter(x=lines_x, y=lines_y, mode="lines", line={"color": color, "width": 3},
                           opacity=0.45, hoverinfo="skip", showlegend=False, row=1, col=1)
        figure.add_scatter(x=base, y=y, mode="markers", name=baseline, legendgroup="baseline",
                           showlegend=index == 0,
                           marker={"color": run_color(0), "size": 9, "opacity": faint},
                           hovertemplate=f"{baseline}: %{{x:{hover}}}<extra></extra>", row=1, col=1)
        custom = np.column_stack([mine["difference"], low, high]).tolist()
        figure.add_scatter(
            x=other, y=y, mode="markers", name=run, legendgroup=run,
            marker={"color": color, "size": 11, "symbol": np.where(solid, "diamond", "diamond-open").tolist(),
                    "line": {"color": color, "width": 2}, "opacity": faint},
            customdata=custom,
            hovertemplate=(f"{run}: %{{x:{hover}}}<br>change %{{customdata[0]:+{hover}}} "
                           f"[%{{customdata[1]:+{hover}}}, %{{customdata[2]:+{hover}}}]<extra></extra>"),
            row=1, col=1)
        difference = mine["difference"].to_numpy(float)
        figure.add_scatter(
            x=difference, y=y, mode="markers", name=run, legendgroup=run, showlegend=False,
            marker={"color": color, "size": 10, "symbol": np.where(solid, "circle", "circle-open").tolist(),
                    "line": {"color": color, "width": 2}, "opacity": faint},
            error_x={"type": "data", "symmetric": False, "color": color, "thickness": 1.5,
                     "array": np.nan_to_num(np.maximum(high - difference, 0)).tolist(),
                     "arrayminus": np.nan_to_num(np.maximum(difference - low, 0)).tolist()},
            customdata=custom,
            hovertemplate=(f"{run}: change %{{x:+{hover}}} [%{{customdata[1]:+{hover}}}, "
                           f"%{{customdata[2]:+{hover}}}]<extra></extra>"),
            row=1, col=2)
    figure.add_vline(x=0, line_dash="dash", line_color=ZERO_COLOR, row=1, col=2)
    ends = np.concatenate([[0.0], rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float),
                           rows["difference"].to_numpy(float)])
    low, high = np.nanmin(ends), np.nanmax(ends)
    pad = 0.08 * (high - low) or 0.01
    figure.update_xaxes(range=[low - pad, high + pad], row=1, col=2)  # 0 never on the edge
    height = max(MIN_HEIGHT, 150 + ROW_HEIGHT * len(groups) * max(1, slots) ** 0.5)
    figure.update_yaxes(tickvals=list(range(len(groups))), ticktext=groups, autorange="reversed",
                        tickfont={"size": 13}, showgrid=True, gridcolor="#eef0f3")
    figure.update_xaxes(tickformat=ticks, row=1, col=1, zeroline=False)
    figure.update_xaxes(tickformat="+" + ticks, row=1, col=2, zeroline=False)
    # The legend on the title's line, centred: lower, it sits on the panels' titles or
    # ticks; at the right, under Plotly's toolbar.
    height = int(height)
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 90, "b": 10},
                         legend={"orientation": "h", "y": 1 + 52 / (height - 100), "yanchor": "bottom",
                                 "x": 0.5, "xanchor": "center"})
    return figure


def group_rows(figures: pd.DataFrame, *, grouping: str, metric: str, order: list[str]) -> pd.DataFrame:
    """The rows of one attribute (and overall, first) for one metric, ``group`` made the
    label shown: ``All faces (n=800)``, ``Black (n=120)``; groups in ``order``."""
    rows = figures[(figures["metric"] == metric) & figures["grouping"].isin(["overall", grouping])].copy()
    rank = {g: i for i, g in enumerate(["all", *order])}
    rows = rows.assign(_rank=rows["group"].map(rank).fillna(len(rank))).sort_values(["_rank", "run"])
    names = rows["group"].where(rows["grouping"] != "overall", "All faces")
    rows["group"] = [f"{name} (n={n})" for name, n in zip(names, rows["n"], strict=True)]
    return rows.drop(columns="_rank")


def gap_rows(gaps: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """The gaps of one metric as dumbbell rows: one line per attribute."""
    rows = gaps[gaps["metric"] == metric]
    return pd.DataFrame({
        "run": rows["run"], "n": rows["n_groups"],
        "group": [f"{ATTRIBUTE_TITLES[g]} ({n} groups)" for g, n in zip(rows["grouping"], rows["n_groups"],
                                                                         strict=True)],
        "baseline": rows["baseline_gap"], "other": rows["other_gap"], "difference": rows["difference"],
        "ci_low": rows["ci_low"], "ci_high": rows["ci_high"], "excludes_zero": rows["excludes_zero"]})


def interval_text(metric: str, low: float, high: float) -> str:
    """``[+1.2 pts, +4.0 pts]``; ``n/a`` ends when there is no interval."""
    return f"[{format_value(metric, low, signed=True)}, {format_value(metric, high, signed=True)}]"


def significant_table(table: pd.DataFrame) -> pd.DataFrame:
    """``Comparison.significant()`` in display form, one row per change."""
    faces = table["grouping"].map(lambda g: "overall" if g == "overall" else ATTRIBUTE_TITLES[g])
    metrics = table["metric"]
    return pd.DataFrame({
        "run": table["run"], "faces": faces + ": " + table["group"].where(table["grouping"] != "overall", "all"),
        "figure": metrics.map(lambda m: metric_title(m, short=True)), "n": table["n"],
        "baseline": [format_value(m, v) for m, v in zip(metrics, table["baseline"], strict=True)],
        "run value": [format_value(m, v) for m, v in zip(metrics, table["other"], strict=True)],
        "change": [format_value(m, v, signed=True) for m, v in zip(metrics, table["difference"], strict=True)],
        "interval": [interval_text(m, lo, hi) for m, lo, hi in
                     zip(metrics, table["ci_low"], table["ci_high"], strict=True)],
        "verdict": table["better"].map({True: "better", False: "worse"}),
    })


def gap_table(gaps: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """The gaps of one metric in display form: each run's gap with its best > worst group."""
    def gap(values, best, worst):
        return [f"{format_value(metric, v)} ({b} > {w})" for v, b, w in zip(values, best, worst, strict=True)]
    return pd.DataFrame({
        "run": gaps["run"], "groups of": gaps["grouping"].map(ATTRIBUTE_TITLES),
        "baseline gap": gap(gaps["baseline_gap"], gaps["baseline_best"], gaps["baseline_worst"]),
        "run gap": gap(gaps["other_gap"], gaps["other_best"], gaps["other_worst"]),
        "change": [format_value(metric, v, signed=True) for v in gaps["difference"]],
        "interval": [interval_text(metric, lo, hi) for lo, hi in zip(gaps["ci_low"], gaps["ci_high"], strict=True)],
        "holds up": gaps["excludes_zero"].map({True: "yes", False: "no"}),
    })
