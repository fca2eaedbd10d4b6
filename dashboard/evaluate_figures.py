"""The Evaluate page's Plotly figures and the display names they use.

Each figure takes what ``modelkit.evaluate`` returns (a ``Confusion``, rows of the
by-group table, the MAE-by-true-age table) and draws it; one trace per run, in the
dashboard's run colours, so a comparison reads the same on every chart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.titles import ATTRIBUTE_TITLES, HEAD_TITLES, run_color
from modelkit import evaluate as ev

# Heads and grouping attributes together: the three class heads are attributes.
TITLES = {**ATTRIBUTE_TITLES, **HEAD_TITLES}
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def head_title(head: str) -> str:
    """``age_group`` -> ``Age group``."""
    return TITLES.get(head, head)


def metric_title(metric: str) -> str:
    """``race_balanced_accuracy`` -> ``Race balanced accuracy``, ``age_mae`` -> ``Age MAE``."""
    for head, title in sorted(TITLES.items(), key=lambda kv: -len(kv[0])):
        if metric.startswith(head + "_"):
            rest = metric[len(head) + 1:].replace("_", " ")
            return f"{title} {rest.replace('mae', 'MAE').replace('median ae', 'median abs. error')}"
    return metric


def grouping_title(key: str) -> str:
    """``race_x_gender`` -> ``Race × gender``."""
    parts = key.split("_x_")
    return " × ".join([ATTRIBUTE_TITLES[parts[0]]] + [ATTRIBUTE_TITLES[p].lower() for p in parts[1:]])


def confusion_figure(matrix: ev.Confusion, *, title: str) -> go.Figure:
    """Heatmap of a confusion matrix: true classes down, predicted across, each cell
    annotated with its count and its share of the true class."""
    counts = matrix.counts
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    text = [[f"{c}<br>{s:.0%}" for c, s in zip(row_c, row_s, strict=True)] for row_c, row_s in zip(counts, shares, strict=True)]
    z = shares if matrix.normalized else counts
    figure = go.Figure(go.Heatmap(
        z=z.tolist(), x=matrix.labels, y=matrix.labels, text=text, texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1 if matrix.normalized else None,
        colorbar={"title": "share of true" if matrix.normalized else "images"},
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    figure.update_layout(
        title=title, margin=MARGIN, height=320 + 22 * len(matrix.labels),
        xaxis={"title": "predicted", "type": "category", "side": "bottom"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return figure


def metric_by_group_figure(series: dict[str, pd.DataFrame], *, metric: str,
                           overall: dict[str, float], small_n: int) -> go.Figure:
    """Bars of one metric per group (one trace per run) with their bootstrap interval,
    the group's n on each bar, and a dashed line at each run's overall value. Groups
    under ``small_n`` labelled faces are drawn faded.

    Args:
        series: run name -> its by-group rows for ``metric`` (group, value, ci_low,
            ci_high, n).
        overall: run name -> the run's overall value of ``metric``.
    """
    figure = go.Figure()
    for index, (label, rows) in enumerate(series.items()):
        color = run_color(index)
        value = rows["value"].to_numpy(float)
        figure.add_bar(
            name=label, x=rows["group"], y=value, marker_color=color,
            marker_opacity=np.where(rows["n"] < small_n, 0.35, 0.9).tolist(),
            error_y={"type": "data", "symmetric": False,
                     "array": np.nan_to_num(rows["ci_high"].to_numpy(float) - value).tolist(),
                     "arrayminus": np.nan_to_num(value - rows["ci_low"].to_numpy(float)).tolist()},
            text=[f"n={n}" for n in rows["n"]], textposition="inside", insidetextanchor="start",
            customdata=np.stack([rows["n"], rows["ci_low"], rows["ci_high"]], axis=1).tolist(),
            hovertemplate="%{x}<br>%{y:.3f} [%{customdata[1]:.3f}, %{customdata[2]:.3f}]"
                          "<br>n=%{customdata[0]}<extra>" + label + "</extra>",
        )
        if overall.get(label) is not None and not np.isnan(overall[label]):
            figure.add_hline(y=overall[label], line_dash="dash", line_color=color,
                             annotation_text=f"overall {overall[label]:.3f}",
                             annotation_position="top left")
    figure.update_layout(
        barmode="group", title=metric_title(metric), height=420, margin=MARGIN,
        legend={"orientation": "h", "y": -0.25},
        xaxis={"type": "category"}, yaxis={"title": metric_title(metric)},
    )
    return figure


def mae_by_age_figure(series: dict[str, pd.DataFrame], *, vs_midpoint: bool) -> go.Figure:
    """Age MAE (years) per true-age bin, one line per run, n, median and bias in the
    hover. ``vs_midpoint``: the true ages are range midpoints (said on the axis)."""
    figure = go.Figure()
    for index, (label, rows) in enumerate(series.items()):
        figure.add_scatter(
            name=label, x=rows["bin"], y=rows["mae"], mode="lines+markers",
            line_color=run_color(index),
            customdata=np.stack([rows["n"], rows["median_ae"], rows["bias"]], axis=1).tolist(),
            hovertemplate="true age %{x}<br>MAE %{y:.2f} y, median %{customdata[1]:.2f} y"
                          "<br>bias %{customdata[2]:+.2f} y<br>n=%{customdata[0]}<extra>"
                          + label + "</extra>",
        )
    what = "true age-range midpoint" if vs_midpoint else "true age"
    figure.update_layout(
        title=f"Age MAE against {what}", height=360, margin=MARGIN,
        xaxis={"title": what, "type": "category"}, yaxis={"title": "MAE (years)", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.3},
    )
    return figure
