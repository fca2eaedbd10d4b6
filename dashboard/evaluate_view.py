"""The Evaluate page's pieces: run listing, cached loaders, Plotly figures, widgets.

The numbers come from ``modelkit.evaluate``; this module only caches them (keyed by
run folder, the predictions file's mtime and the filter, so a retrained run is picked
up and a rerun with the same inputs costs nothing) and draws them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from modelkit import evaluate as ev
from modelkit import paths

NO_FILTER = "all faces"
NO_COMPARE = "(none)"
ATTRIBUTE_TITLES = {"gender": "Gender", "race": "Race", "age_group": "Age group"}
HEAD_TITLES = {**ATTRIBUTE_TITLES, "age": "Age"}
RUN_COLORS = ("#1f77b4", "#ff7f0e")


# ----------------------------------------------------------------------------- runs

def list_runs(root: str | os.PathLike | None = None) -> list[Path]:
    """Run folders under the runs root that hold a predictions table, newest first."""
    base = paths.runs_root(root)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / ev.PREDICTIONS_FILE).is_file()]
    return sorted(runs, key=lambda p: (p / ev.PREDICTIONS_FILE).stat().st_mtime, reverse=True)


def predictions_mtime(run_dir: str | os.PathLike) -> float:
    """The cache key part that changes when a run writes new predictions."""
    return ev.predictions_path(run_dir).stat().st_mtime


# ----------------------------------------------------------------------------- cached loaders

@st.cache_data(show_spinner=False, max_entries=8)
def load_predictions(run_dir: str, mtime: float) -> pd.DataFrame:
    """The run's predictions table, all splits (``mtime`` keys the cache)."""
    return ev.load_predictions(run_dir)


@st.cache_data(show_spinner="Computing per-group figures...", max_entries=8)
def load_evaluation(run_dir: str, mtime: float, split: str) -> ev.Evaluation:
    """Overall and per-group figures of one split (seeded bootstrap, so stable)."""
    return ev.evaluate(load_predictions(run_dir, mtime), split=split)


@st.cache_data(show_spinner=False, max_entries=64)
def load_confusion(run_dir: str, mtime: float, split: str, head: str, normalize: bool,
                   where: tuple[tuple[str, str], ...]) -> ev.Confusion:
    """A confusion matrix of a split among faces matching ``where`` (true labels)."""
    frame, _ = ev.select_split(load_predictions(run_dir, mtime), split)
    return ev.confusion(frame, head, normalize=normalize, where=dict(where))


@st.cache_data(show_spinner=False, max_entries=64)
def load_mae_by_age(run_dir: str, mtime: float, split: str,
                    where: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """Age error by true-age bin among faces matching ``where``."""
    frame, _ = ev.select_split(load_predictions(run_dir, mtime), split)
    return ev.mae_by_true_age(frame, where=dict(where))


@st.cache_data(show_spinner=False, max_entries=64)
def load_worst_errors(run_dir: str, mtime: float, split: str, head: str,
                      where: tuple[tuple[str, str], ...], k: int) -> pd.DataFrame:
    """The ``k`` worst errors of a head among faces matching ``where``."""
    frame, _ = ev.select_split(load_predictions(run_dir, mtime), split)
    return ev.worst_errors(frame, head, dict(where), k)


@st.cache_data(show_spinner=False, max_entries=512)
def load_thumbnail(path: str, mtime: float, size: int = 128) -> np.ndarray | None:
    """A small RGB copy of an image for the gallery; None when it cannot be read."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            return np.asarray(image)
    except (OSError, ValueError):
        return None


def file_mtime(path: str) -> float:
    """mtime of a file, 0 when it is gone (the thumbnail then reads as missing)."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


# ----------------------------------------------------------------------------- figures

def confusion_figure(matrix: ev.Confusion, *, title: str) -> go.Figure:
    """Heatmap of a confusion matrix: true classes down, predicted across, each cell
    annotated with its count and its share of the true class."""
    counts = matrix.counts
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    text = [[f"{c}<br>{s:.0%}" for c, s in zip(row_c, row_s)] for row_c, row_s in zip(counts, shares)]
    z = shares if matrix.normalized else counts
    figure = go.Figure(go.Heatmap(
        z=z.tolist(), x=matrix.labels, y=matrix.labels, text=text, texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1 if matrix.normalized else None,
        colorbar={"title": "share of true" if matrix.normalized else "images"},
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    figure.update_layout(
        title=title, margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=320 + 22 * len(matrix.labels),
        xaxis={"title": "predicted", "type": "category", "side": "bottom"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return figure


def metric_by_group_figure(series: dict[str, pd.DataFrame], *, metric: str,
                           overall: dict[str, float], small_n: int) -> go.Figure:
    """Bars of one metric per group (one trace per run) with their bootstrap interval,
    the group's n on each bar, and a dashed line at each run's overall value. Groups
    under ``small_n`` labelled faces are drawn faded."""
    figure = go.Figure()
    for (label, rows), color in zip(series.items(), RUN_COLORS):
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
        barmode="group", title=metric_title(metric), height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": -0.25},
        xaxis={"type": "category"}, yaxis={"title": metric_title(metric)},
    )
    return figure


def mae_by_age_figure(series: dict[str, pd.DataFrame], *, vs_midpoint: bool) -> go.Figure:
    """Age MAE (years) per true-age bin, one line per run, n in the hover."""
    figure = go.Figure()
    for (label, rows), color in zip(series.items(), RUN_COLORS):
        figure.add_scatter(
            name=label, x=rows["bin"], y=rows["mae"], mode="lines+markers", line_color=color,
            customdata=np.stack([rows["n"], rows["median_ae"], rows["bias"]], axis=1).tolist(),
            hovertemplate="true age %{x}<br>MAE %{y:.2f} y, median %{customdata[1]:.2f} y"
                          "<br>bias %{customdata[2]:+.2f} y<br>n=%{customdata[0]}<extra>"
                          + label + "</extra>",
        )
    what = "true age-range midpoint" if vs_midpoint else "true age"
    figure.update_layout(
        title=f"Age MAE against {what}", height=360, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": what, "type": "category"}, yaxis={"title": "MAE (years)", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.3},
    )
    return figure


def metric_title(metric: str) -> str:
    """``race_balanced_accuracy`` -> ``Race balanced accuracy``."""
    for head, title in sorted(HEAD_TITLES.items(), key=lambda kv: -len(kv[0])):
        if metric.startswith(head + "_"):
            rest = metric[len(head) + 1:].replace("_", " ")
            return f"{title} {rest.replace('mae', 'MAE').replace('median ae', 'median abs. error')}"
    return metric


def grouping_title(key: str) -> str:
    """``race_x_gender`` -> ``Race × gender``."""
    parts = key.split("_x_")
    return " × ".join([ATTRIBUTE_TITLES[parts[0]]] + [ATTRIBUTE_TITLES[p].lower() for p in parts[1:]])


def where_title(where: dict[str, str]) -> str:
    """``{"race": "Black"}`` -> ``race = Black``; all faces when empty."""
    return ", ".join(f"{ATTRIBUTE_TITLES[a].lower()} = {v}" for a, v in where.items()) or NO_FILTER


# ----------------------------------------------------------------------------- widgets

def run_picker_ui(runs: list[Path]) -> tuple[Path, Path | None]:
    """Sidebar: the run to evaluate and, optionally, one to compare it with."""
    names = [p.name for p in runs]
    chosen = st.sidebar.selectbox("Run", names, key="evaluate_run",
                                  help="Runs under the runs root that have predictions")
    others = [NO_COMPARE] + [n for n in names if n != chosen]
    compare = st.sidebar.selectbox("Compare with", others, key="evaluate_compare")
    by_name = dict(zip(names, runs))
    return by_name[chosen], (by_name[compare] if compare != NO_COMPARE else None)


def split_ui(predictions: pd.DataFrame) -> str:
    """Sidebar: the evaluation split (test first when there is one)."""
    splits = [s for s in ev.available_splits(predictions) if s != "train"]
    splits = sorted(splits, key=lambda s: s != "test")
    return st.sidebar.radio("Split", splits, key="evaluate_split", horizontal=True)


def group_filter_ui(predictions: pd.DataFrame) -> dict[str, str]:
    """Sidebar: restrict matrices, age chart and gallery to one group (true label)."""
    attribute = st.sidebar.selectbox(
        "Only faces labelled", [NO_FILTER, *ev.GROUP_ATTRIBUTES], key="evaluate_filter_attr",
        format_func=lambda a: ATTRIBUTE_TITLES.get(a, a))
    if attribute == NO_FILTER:
        return {}
    present = set(predictions[f"{attribute}_true"].dropna())
    values = [v for v in ev.class_labels(predictions, attribute) if v in present]
    if not values:
        st.sidebar.caption(f"No face has a {attribute} label.")
        return {}
    return {attribute: st.sidebar.selectbox("Group", values, key="evaluate_filter_value")}


def worst_groups_table(evaluation: ev.Evaluation, *, metric: str, min_n: int, k: int = 15) -> pd.DataFrame:
    """The ranked worst-groups table, in display form."""
    table = evaluation.worst_groups(metric, min_n=min_n, k=k)
    table["grouping"] = table["grouping"].map(grouping_title)
    return table.drop(columns="metric").rename(columns={
        "grouping": "by", "ci_low": "CI low", "ci_high": "CI high", "shortfall": "worse than overall by"})


def error_gallery_ui(errors: pd.DataFrame, *, run_dir: Path, head: str, per_row: int = 6) -> None:
    """Thumbnails of the worst errors, true vs predicted and confidence, each with a
    button that opens the Explain page on that image."""
    for start in range(0, len(errors), per_row):
        for column, (i, row) in zip(st.columns(per_row), errors.iloc[start:start + per_row].iterrows()):
            with column:
                thumbnail = load_thumbnail(row["path"], file_mtime(row["path"]))
                if thumbnail is None:
                    st.caption(f"image not found: {Path(row['path']).name}")
                else:
                    st.image(thumbnail, width="stretch")
                if head == ev.AGE_HEAD:
                    st.caption(f"true {row['true']:.0f} · predicted {row['pred']:.0f} "
                               f"(off by {row['error']:.0f} y)")
                else:
                    confidence = "?" if pd.isna(row["confidence"]) else f"{row['confidence']:.0%}"
                    st.caption(f"true **{row['true']}** · predicted **{row['pred']}** ({confidence})")
                if st.button("Explain", key=f"evaluate_explain_{i}", icon=":material/visibility:"):
                    st.session_state["explain_image"] = {"run_dir": str(run_dir), "path": row["path"]}
                    st.switch_page("pages/explain.py")
