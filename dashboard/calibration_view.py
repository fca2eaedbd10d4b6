"""The Evaluate page's calibration section: is the model's confidence equally honest
for every group?

For the gender and race heads (top-class confidence), per group of a chosen
attribute: the reliability curves (share correct against mean confidence per bin),
the expected calibration error with its bootstrap interval and the Brier score, and
the worst-calibrated group named. The numbers are the evaluation's
``calibration`` (``modelkit.evaluate.calibration``), cached with it. Widget keys
start with ``evaluate_calibration_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.evaluate_figures import head_title
from dashboard.titles import ATTRIBUTE_TITLES, run_color
from modelkit.evaluate.calibration import CALIBRATED_HEADS, OVERALL

DIAGONAL_COLOR = "#9aa5b1"


def reliability_figure(table: pd.DataFrame, curves: pd.DataFrame, *, head: str, grouping: str,
                       min_n: int) -> go.Figure:
    """Left: each group's reliability curve (and overall, dashed) against the diagonal
    of perfect calibration; right: each group's ECE with its interval and n (groups
    under ``min_n`` faces faded)."""
    rows = table[(table["head"] == head) & (table["grouping"] == grouping)]
    overall = curves[(curves["head"] == head) & (curves["grouping"] == OVERALL)]
    figure = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.12,
                           subplot_titles=("Reliability: share correct per confidence bin",
                                           "Expected calibration error (lower is better)"))
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": DIAGONAL_COLOR, "dash": "dot"},
                       name="perfectly calibrated", row=1, col=1)
    figure.add_scatter(x=overall["confidence"], y=overall["accuracy"], mode="lines+markers",
                       line={"color": "#111827", "dash": "dash"}, name="all faces", row=1, col=1)
    for index, group in enumerate(rows["group"]):
        curve = curves[(curves["head"] == head) & (curves["grouping"] == grouping) & (curves["group"] == group)]
        figure.add_scatter(
            x=curve["confidence"], y=curve["accuracy"], mode="lines+markers", name=str(group),
            line={"color": run_color(index)}, customdata=curve["count"],
            hovertemplate=f"{group}<br>confidence %{{x:.2f}}<br>correct %{{y:.0%}}<br>"
                          "n=%{customdata}<extra></extra>", row=1, col=1)
    ece = rows["ece"].to_numpy(float)
    figure.add_bar(
        x=rows["group"], y=ece, showlegend=False,
        marker_color=[run_color(i) for i in range(len(rows))],
        marker_opacity=np.where(rows["n"] < min_n, 0.35, 0.9).tolist(),
        error_y={"type": "data", "symmetric": False,
                 "array": np.nan_to_num(rows["ece_ci_high"].to_numpy(float) - ece).clip(0).tolist(),
                 "arrayminus": np.nan_to_num(ece - rows["ece_ci_low"].to_numpy(float)).clip(0).tolist()},
        text=[f"n={n}" for n in rows["n"]], textposition="inside", insidetextanchor="start",
        hovertemplate="%{x}<br>ECE %{y:.3f}<extra></extra>", row=1, col=2)
    figure.update_xaxes(title_text="mean confidence", range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title_text="share correct", range=[0, 1.05], tickformat=".0%", row=1, col=1)
    figure.update_xaxes(type="category", row=1, col=2)
    figure.update_yaxes(title_text="ECE", rangemode="tozero", row=1, col=2)
    figure.update_layout(height=430, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                         title=f"{head_title(head)} head by {ATTRIBUTE_TITLES[grouping].lower()}",
                         legend={"orientation": "h", "y": -0.2})
    return figure


def worst_sentence(row: pd.Series | None, *, head: str, min_n: int) -> str:
    """``Worst calibrated (race head): age group 70+, ECE 0.210 [0.12, 0.30], 35 faces.``"""
    if row is None:
        return f"No group of at least {min_n} faces has a {head} calibration figure."
    interval = "" if pd.isna(row["ece_ci_low"]) else f" [{row['ece_ci_low']:.3f}, {row['ece_ci_high']:.3f}]"
    return (f"Worst calibrated ({head} head, groups of at least {min_n} faces): "
            f"**{ATTRIBUTE_TITLES[row['grouping']].lower()} {row['group']}**, ECE {row['ece']:.3f}"
            f"{interval}, {int(row['n'])} faces (confidence {row['confidence']:.0%}, "
            f"correct {row['accuracy']:.0%}).")


def calibration_ui(shown) -> None:
    """The section for the first run shown (an ``evaluate_view.EvaluatedRun``)."""
    st.header("Calibration")
    run = shown[0]
    calibration = run.evaluation.calibration
    if calibration is None or calibration.table.empty:
        st.info("No class probabilities in these predictions, so no calibration.")
        return
    heads = [h for h in CALIBRATED_HEADS if (calibration.table["head"] == h).any()]
    left, right = st.columns(2)
    head = left.radio("Head", heads, key="evaluate_calibration_head", horizontal=True,
                      format_func=head_title)
    groupings = [g for g in ATTRIBUTE_TITLES if (calibration.table["grouping"] == g).any()]
    grouping = right.selectbox("Groups of", groupings, key="evaluate_calibration_grouping",
                               format_func=lambda g: ATTRIBUTE_TITLES[g])
    for line in (worst_sentence(calibration.worst(h), head=h, min_n=calibration.min_n) for h in heads):
        st.markdown(line)
    st.plotly_chart(reliability_figure(calibration.table, calibration.curves, head=head,
                                       grouping=grouping, min_n=calibration.min_n),
                    key="evaluate_calibration_figure")
    rows = calibration.table[(calibration.table["head"] == head)
                             & calibration.table["grouping"].isin([OVERALL, grouping])]
    st.dataframe(pd.DataFrame({
        "group": rows["group"].where(rows["grouping"] != OVERALL, "all faces"), "n": rows["n"],
        "correct": rows["accuracy"].map("{:.1%}".format),
        "mean confidence": rows["confidence"].map("{:.1%}".format),
        "ECE": rows["ece"].round(3), "ECE interval": _intervals(rows, "ece"),
        "Brier": rows["brier"].round(3), "Brier interval": _intervals(rows, "brier"),
    }), hide_index=True, width="stretch", key="evaluate_calibration_table")
    st.caption(f"{run.name}. Confidence is the probability of the predicted class; "
               f"{calibration.n_bins} equal-width bins. ECE is biased upwards on small groups, "
               "so compare groups of similar size, or compare runs on the Compare page.")


def _intervals(rows: pd.DataFrame, metric: str) -> list[str]:
    return ["–" if pd.isna(low) else f"[{low:.3f}, {high:.3f}]"
            for low, high in zip(rows[f"{metric}_ci_low"], rows[f"{metric}_ci_high"], strict=True)]
