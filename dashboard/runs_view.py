"""The Runs page's pieces, the curve figures the Train page shares, and the reconcile timer.

Numbers come from ``modelkit.runs`` (registry, status, metrics.jsonl); this module
turns them into tables and Plotly figures and draws the widgets. It never starts or
stops anything except through ``modelkit.runs``.

Reading is free of writes: ``runs.list_runs``/``runs.show`` only read. The one write a
page makes without a click is :func:`reconcile_due`, ``runs.reconcile()`` behind
``st.cache_data(ttl=RECONCILE_S)``: at most once every ``RECONCILE_S`` seconds per
server and runs root, however many tabs rerun, so a run whose processes died is shown
``failed`` within that time. (Runs that end normally need no reconcile: their
supervisor records the end and starts the next queued run.)
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import signin
from dashboard.titles import HEAD_TITLES, run_color
from modelkit import labels, paths
from modelkit import runs as rk
from modelkit.evaluate.metrics import SUMMARY_METRIC as HEAD_METRIC
from modelkit.runfolder import METRICS_FILE
from modelkit.runs.experiments import ROLE_TITLES

RECONCILE_S = 10
METRIC_TITLES = {"accuracy": "accuracy", "mae": "MAE (years)", "loss": "loss"}
# The best value of each validation metric: highest accuracy, lowest loss and MAE.
BEST = {"val_loss": "min", "val_gender_accuracy": "max", "val_race_accuracy": "max",
        "val_age_mae": "min"}
BEST_TITLES = {"val_loss": "best val loss", "val_gender_accuracy": "best val gender acc",
               "val_race_accuracy": "best val race acc", "val_age_mae": "best val age MAE"}
# Streamlit's Material icons (markdown only): they render without an emoji font.
STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
               "cancelling": ":material/stop_circle:", "cancelled": ":material/stop_circle:",
               "failed": ":material/error:", "finished": ":material/check_circle:"}


# ----------------------------------------------------------------------------- reconcile
@st.cache_data(ttl=RECONCILE_S, show_spinner=False, max_entries=16)
def _reconciled(root: str) -> float:
    rk.reconcile(runs_root=root)
    return time.time()


def reconcile_due() -> float:
    """Reconcile the registry if the last reconcile of this runs root is older than
    ``RECONCILE_S`` seconds (shared by every session of the server); returns its time."""
    return _reconciled(os.fspath(paths.runs_root()))


# ----------------------------------------------------------------------------- data

def _metrics_mtime(run_dir: str) -> float:
    try:
        return (Path(run_dir) / METRICS_FILE).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=256)
def _epochs_cached(run_dir: str, mtime: float) -> pd.DataFrame:
    return pd.DataFrame(rk.epoch_metrics(run_dir))


def epoch_frame(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per completed epoch of a run (cached until metrics.jsonl changes)."""
    return _epochs_cached(os.fspath(run_dir), _metrics_mtime(os.fspath(run_dir)))


def best_metrics(frame: pd.DataFrame) -> dict[str, float | None]:
    """Best validation value of each metric in ``BEST`` (None when never logged)."""
    out: dict[str, float | None] = {}
    for key, how in BEST.items():
        column = frame[key].dropna() if key in frame else pd.Series(dtype=float)
        out[key] = None if column.empty else float(column.max() if how == "max" else column.min())
    return out


def duration_s(run: rk.RunInfo, *, now: float | None = None) -> float | None:
    """Wall time of the current (or last) attempt; None before it started."""
    if not run.started:
        return None
    end = run.ended if run.is_final and run.ended else (now or time.time())
    return max(0.0, end - run.started)


def format_duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 20s``, ``12s``; an en dash for unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def runs_table(found: list[rk.RunInfo]) -> pd.DataFrame:
    """The Runs page table: one row per run, with its best validation metrics."""
    rows = []
    for run in found:
        best = best_metrics(epoch_frame(run.run_dir))
        planned = run.epochs or run.config.get("epochs")
        rows.append({
            "id": run.id,
            "state": run.state
                     + (f" #{run.queue_position}" if run.queue_position else ""),
            "source": run.config.get("source"),
            "backbone": run.config.get("backbone"),
            "epochs": f"{run.epoch or 0}/{planned if planned else '?'}",
            **{BEST_TITLES[k]: v for k, v in best.items()},
            "duration": format_duration(duration_s(run)),
            "started": datetime.fromtimestamp(run.started or run.created or 0),
            "started by": run.started_by,
            "cancelled / resumed by": " · ".join(
                f"{what} {who}" for what, who in (("cancelled", run.cancelled_by),
                                                  ("resumed", run.resumed_by)) if who) or None,
        })
    return pd.DataFrame(rows, columns=["id", "state", "started by", "source", "backbone",
                                       "epochs", *BEST_TITLES.values(), "duration", "started",
                                       "cancelled / resumed by"])


# ----------------------------------------------------------------------------- figures

def head_curves_figure(frame: pd.DataFrame, *, head: str) -> go.Figure:
    """Loss and the head's metric per epoch, train and validation side by side."""
    metric = HEAD_METRIC[head]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        f"{HEAD_TITLES[head]} loss", f"{HEAD_TITLES[head]} {METRIC_TITLES[metric]}"))
    for col, name in ((1, f"{head}_loss"), (2, f"{head}_{metric}")):
        for prefix, dash in (("", "solid"), ("val_", "dash")):
            key = prefix + name
            if key in frame and frame[key].notna().any():
                fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], mode="lines+markers",
                                         name=key, line={"dash": dash}), row=1, col=col)
    fig.update_xaxes(title_text="epoch", dtick=1)
    # Legend above the subplot titles (anchored by its bottom edge, clear of them): below
    # the plots it sits on the "epoch" axis titles.
    fig.update_layout(height=340, margin={"t": 90, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.14, "x": 0})
    return fig


def loss_figure(frame: pd.DataFrame) -> go.Figure:
    """Total loss per epoch, train and validation."""
    fig = go.Figure()
    for key, dash in (("loss", "solid"), ("val_loss", "dash")):
        if key in frame and frame[key].notna().any():
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], mode="lines+markers",
                                     name=key, line={"dash": dash}))
    fig.update_layout(title="Total loss", xaxis_title="epoch", height=300,
                      margin={"t": 40, "b": 10})
    fig.update_xaxes(dtick=1)
    return fig


def batch_loss_figure(lines: list[dict]) -> go.Figure:
    """The running loss of the progress lines (inside the current epochs)."""
    points = [m for m in lines if m.get("type") == "progress" and m.get("loss") is not None]
    steps = max([int(m.get("steps") or 1) for m in points] or [1])
    x = [(int(m["epoch"]) - 1) + int(m.get("batch") or 0) / steps for m in points]
    fig = go.Figure(go.Scatter(x=x, y=[m["loss"] for m in points], mode="lines", name="loss"))
    fig.update_layout(title="Training loss by batch", xaxis_title="epoch", height=260,
                      margin={"t": 40, "b": 10})
    return fig


def compare_curves_figure(frames: dict[str, pd.DataFrame], *, key: str) -> go.Figure:
    """One validation curve (``key``, e.g. ``val_age_mae``) per run."""
    fig = go.Figure()
    for name, frame in frames.items():
        if key in frame and frame[key].notna().any():
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], mode="lines+markers", name=name))
    fig.update_layout(title=key, xaxis_title="epoch", height=300, margin={"t": 40, "b": 10})
    return fig


def final_metrics(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The last epoch's validation metric of each head, one row per run."""
    rows = []
    for name, frame in frames.items():
        last = frame.iloc[-1] if len(frame) else pd.Series(dtype=float)
        rows.append({"run": name, **{head: last.get(f"val_{head}_{HEAD_METRIC[head]}")
                                    for head in labels.HEADS}})
    return pd.DataFrame(rows, columns=["run", *labels.HEADS])


def final_metrics_figure(table: pd.DataFrame) -> go.Figure:
    """Final per-head validation metrics of several runs, a bar per run in each head."""
    fig = make_subplots(rows=1, cols=len(labels.HEADS), subplot_titles=[
        f"{HEAD_TITLES[h]} val {METRIC_TITLES[HEAD_METRIC[h]]}" for h in labels.HEADS])
    for i, row in table.iterrows():
        for col, head in enumerate(labels.HEADS, start=1):
            fig.add_trace(go.Bar(x=[row["run"]], y=[row[head]], name=row["run"],
                                 legendgroup=row["run"], showlegend=col == 1,
                                 marker_color=run_color(i)), row=1, col=col)
    fig.update_layout(height=320, margin={"t": 40, "b": 10}, barmode="group")
    fig.update_xaxes(showticklabels=False)
    return fig



# ----------------------------------------------------------------------------- widgets

def filters_ui(table: pd.DataFrame) -> pd.DataFrame:
    """Sidebar filters on state, source and backbone; returns the matching rows."""
    keep = pd.Series(True, index=table.index)
    for column in ("state", "source", "backbone"):
        values = table[column].dropna()
        # A queued run's state reads "queued #2": filter on the word.
        options = sorted(values.str.split().str[0].unique() if column == "state"
                         else values.unique())
        chosen = st.sidebar.multiselect(column.capitalize(), options, key=f"runs_filter_{column}")
        if chosen:
            cells = table[column].str.split().str[0] if column == "state" else table[column]
            keep &= cells.isin(chosen)
    return table[keep]


def compare_ui(table: pd.DataFrame) -> list[str]:
    """Pick runs to compare (two or more draw the comparison)."""
    return st.multiselect("Compare runs", table["id"].tolist(), key="runs_compare",
                          placeholder="pick two or more runs")


def comparison(ids: list[str], found: dict[str, rk.RunInfo]) -> None:
    """Validation curves of each head and the final per-head metrics of ``ids``."""
    frames = {i: epoch_frame(found[i].run_dir) for i in ids}
    if not any(len(f) for f in frames.values()):
        st.info("None of these runs has finished an epoch yet.")
        return
    st.plotly_chart(final_metrics_figure(final_metrics(frames)), key="runs_final")
    keys = ["val_loss", *(f"val_{h}_{HEAD_METRIC[h]}" for h in labels.HEADS)]
    for column, key in zip(st.columns(2) * 2, keys, strict=True):
        with column:
            st.plotly_chart(compare_curves_figure(frames, key=key), key=f"runs_curve_{key}")


def delete_ui(ids: list[str], found: dict[str, rk.RunInfo]) -> None:
    """Delete one run, after a confirmation step (refused while it runs)."""
    with st.expander("Delete a run"):
        victim = st.selectbox("Run", ids, key="runs_delete_pick", index=None,
                              placeholder="choose a run")
        if victim and st.button("Delete…", key="runs_delete"):
            st.session_state["runs_delete_pending"] = victim
        pending = st.session_state.get("runs_delete_pending")
        if pending and pending in found:
            st.warning(f"Delete **{pending}** and its folder (model, checkpoints, metrics)? "
                       "This cannot be undone." + partner_note(pending, found))
            yes, no = st.columns(2)
            if yes.button("Yes, delete", key="runs_delete_yes", type="primary"):
                st.session_state.pop("runs_delete_pending")
                try:
                    rk.delete(pending, actor=signin.current_actor())
                except (ValueError, PermissionError) as exc:
                    st.error(str(exc))
                else:
                    st.session_state["runs_deleted"] = pending
                    st.rerun()
            if no.button("Keep it", key="runs_delete_no"):
                st.session_state.pop("runs_delete_pending")
                st.rerun()


def partner_note(run_id: str, found: dict[str, rk.RunInfo]) -> str:
    """For the delete confirmation: which experiment the run is in, and that the other
    run is kept ("" when it is in none)."""
    run = found.get(run_id)
    if run is None or not run.experiment:
        return ""
    others = [r for r in found.values() if r.experiment == run.experiment and r.id != run_id]
    kept = ", ".join(f"**{r.id}** ({ROLE_TITLES.get(r.experiment_role)})" for r in others)
    return (f" It is the {ROLE_TITLES.get(run.experiment_role)} run of experiment "
            f"**{run.experiment}**" + (f"; {kept} is kept." if kept else "."))
