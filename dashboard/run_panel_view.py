"""The Train page's live run panel: pick a run, watch it, cancel or resume it; the queue.

The panel is an ``st.fragment(run_every=REFRESH_S)``: every two seconds it redraws
from what the run's process wrote (status.json, metrics.jsonl, train.log), reading
only the watched run (``runs.show``), never the whole list. When that run changes
state (it ended, or a queued run started) the whole page reruns, so the queue and
the picker follow. Nothing is kept in the Streamlit process.
"""

from __future__ import annotations

import time

import streamlit as st

from dashboard import runs_view, signin
from dashboard.titles import HEAD_TITLES
from modelkit import labels
from modelkit import runs as rk

REFRESH_S = 2


# ----------------------------------------------------------------------------- picking
def pick_run_ui(found: list[rk.RunInfo]) -> str | None:
    """The run to watch: the one just started, else the user's pick, else the newest
    active run, else the newest."""
    if not found:
        return None
    ids = [r.id for r in found]
    if st.session_state.get("train_watch") not in ids:
        active = [r.id for r in found if r.state in (*rk.ACTIVE, "queued")]
        st.session_state["train_watch"] = (active or ids)[0]
    # Ids only: the state changes while the panel below is live, the picker does not.
    return st.selectbox("Watch run", ids, key="train_watch")


def queue_ui(found: list[rk.RunInfo]) -> None:
    """Running and queued runs, in the order they will train."""
    lines = [r for r in found if r.state in rk.ACTIVE] + sorted(
        (r for r in found if r.state == "queued"), key=lambda r: r.queue_position or 0)
    if not lines:
        st.caption("Queue: empty.")
        return
    st.markdown("**Queue** (one run trains at a time; the next starts when it ends)")
    for run in lines:
        where = f"#{run.queue_position} in queue" if run.state == "queued" else run.state
        st.markdown(f"- `{run.id}` · {where} · {run.config.get('source')} / "
                    f"{run.config.get('backbone')} · {run.epoch or 0}/"
                    f"{run.epochs or run.config.get('epochs')} epochs")


# ----------------------------------------------------------------------------- the panel
def progress_text(run: rk.RunInfo, where: dict) -> str:
    """``Epoch 2/5 · batch 13/40 · 31% · ETA 1m 20s`` (the epoch under way, 1-based)."""
    if run.state == "queued":
        return f"Queued (#{run.queue_position}): starts when a running run ends"
    parts = []
    if where["epochs"]:
        current = where["epoch"] + (1 if run.is_active and where["epoch"] < where["epochs"] else 0)
        parts.append(f"Epoch {current}/{where['epochs']}")
    if where["steps_per_epoch"] and run.is_active:
        parts.append(f"batch {where['batch']}/{where['steps_per_epoch']}")
    parts.append(f"{where['fraction']:.0%}")
    if where["eta_s"] is not None:
        parts.append(f"ETA {runs_view.format_duration(where['eta_s'])}")
    return " · ".join(parts)


def actions_ui(run: rk.RunInfo) -> None:
    """Cancel (queued or running) and Resume (cancelled or failed) buttons, for whoever
    may (the run's starter, or an admin)."""
    if not signin.can("run.cancel"):
        return
    left, right, _ = st.columns([1, 1, 4])
    if run.state in ("queued", *rk.ACTIVE) and left.button(
            "Cancel", key=f"train_cancel_{run.id}", disabled=run.state == "cancelling",
            help="Stops at the next batch and keeps a checkpoint"):
        _act(rk.cancel, run.id)
    if run.state in ("cancelled", "failed") and right.button(
            "Resume", key=f"train_resume_{run.id}", type="primary",
            help="Continues from the last checkpoint to the planned epochs"):
        _act(rk.resume, run.id)


def _act(action, run_id: str) -> None:
    try:
        action(run_id, actor=signin.current_actor())
    except (ValueError, PermissionError) as exc:  # it ended meanwhile, or is someone else's
        st.warning(str(exc))
    else:
        st.rerun(scope="app")  # the queue and the picker change too


def _follow_state(run: rk.RunInfo) -> None:
    """Rerun the whole page when the watched run changed state since the last redraw."""
    seen = st.session_state.setdefault("train_panel_states", {})
    before = seen.get(run.id, run.state)
    seen[run.id] = run.state
    if before != run.state:
        st.rerun(scope="app")


def run_panel(run_id: str) -> None:
    """Everything about one run: state, progress, curves, log."""
    runs_view.reconcile_due()  # at most every RECONCILE_S s per server: a dead run shows up
    try:
        run = rk.show(run_id)
    except ValueError:
        st.info(f"Run {run_id} is gone (deleted).")
        return
    _follow_state(run)
    where = rk.progress(run)
    st.subheader(f"{runs_view.STATE_ICONS.get(run.state, '')} {run.id} — {run.state}")
    st.caption(f"{run.config.get('source')} · {run.config.get('backbone')} · "
               f"{run.config.get('image_size')} px · batch {run.config.get('batch_size')} · "
               f"lr {run.config.get('lr')} · {_precision(run.config)} · folder {run.run_dir}")
    st.progress(where["fraction"], text=progress_text(run, where))
    cells = st.columns(4)
    cells[0].metric("Images/s", f"{where['images_per_s']:.0f}" if where["images_per_s"] else "–")
    cells[1].metric("Elapsed", runs_view.format_duration(runs_view.duration_s(run)))
    cells[2].metric("Epochs done", f"{run.epoch or 0}/{where['epochs'] or '?'}")
    beat = f"{time.time() - run.heartbeat:.0f}s ago" if run.heartbeat and run.is_active else "–"
    cells[3].metric("Heartbeat", beat)
    if run.stalled:
        st.warning(f"No heartbeat for {time.time() - run.heartbeat:.0f} s: the run may be stuck "
                   "(its process is still alive).")
    if run.state == "cancelling":
        st.info("Cancelling: the run stops at the next batch and saves a checkpoint.")
    actions_ui(run)
    if run.state == "failed":
        st.error(f"Failed: {run.error or 'no error message'}")
        if run.traceback:
            st.code("\n".join(run.traceback.strip().splitlines()[-25:]), language="text")
    curves_ui(run)
    with st.expander("Log (last 40 lines of train.log)", expanded=run.state == "failed"):
        st.code(rk.log_tail(run.run_dir, lines=40) or "(empty)", language="text")


def curves_ui(run: rk.RunInfo) -> None:
    """Loss and per-head metric curves from metrics.jsonl."""
    frame = runs_view.epoch_frame(run.run_dir)
    lines = rk.read_metrics(run.run_dir)
    if frame.empty and not lines:
        st.caption("Curves appear after the first batches.")
        return
    left, right = st.columns(2)
    if not frame.empty:
        left.plotly_chart(runs_view.loss_figure(frame), key=f"train_loss_{run.id}")
    if any(m.get("type") == "progress" for m in lines):
        right.plotly_chart(runs_view.batch_loss_figure(lines), key=f"train_batches_{run.id}")
    if not frame.empty:
        for head, tab in zip(labels.HEADS, st.tabs([HEAD_TITLES[h] for h in labels.HEADS]),
                             strict=True):
            with tab:
                st.plotly_chart(runs_view.head_curves_figure(frame, head=head),
                                key=f"train_head_{head}_{run.id}")


live_run_panel = st.fragment(run_every=REFRESH_S)(run_panel)


def _precision(config: dict) -> str:
    """The precision the run trains in and why, once its trainer chose (config.json);
    before that, what was asked for."""
    used = config.get("precision_used")
    if used:
        return f"{used} ({config.get('precision_reason', '')})"
    return f"precision {config['precision']}" if "precision" in config else "precision not recorded"
