"""The Train page's pieces: the run form, the device note and the live run panel.

Training itself happens in a separate process started by ``modelkit.runs``; this
module only submits a config, then reads the run's status, metrics and log every two
seconds (``st.fragment(run_every=2)``) to redraw the panel. Nothing here is kept in
the Streamlit process, so closing the tab or restarting the server loses nothing.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext

import streamlit as st

from dashboard import runs_view
from modelkit import labels, paths
from modelkit import runs as rk
# The train command's own choices (modelkit.cli.train is light: no TensorFlow).
from modelkit.cli.train import BACKBONES, SOURCES
from modelkit.cli.train import BALANCE as BALANCE_CHOICES

NEEDS_ROOT = {"utkface": "the UTKFace image folder", "fairface": "the FairFace folder (with "
              "fairface_label_*.csv)", "imdbwiki": "the IMDB-WIKI folder (with imdb.mat or "
              "wiki.mat)", "csv": "the folder the CSV's image paths are relative to"}
REFRESH_S = 2


# ----------------------------------------------------------------------------- form

def path_error(*, source: str, root: str, labels_file: str) -> str | None:
    """Why the dataset paths typed in the form cannot be used, or None when they can.

    The dashboard may only read under ``modelkit.paths.data_roots()`` (the server's
    files are not the browser user's to browse); the CLI has no such limit.
    """
    if source == "synthetic":
        return None
    if source in NEEDS_ROOT and not root and not (source == "csv" and labels_file):
        return f"The {source} source needs a dataset folder: {NEEDS_ROOT[source]}."
    if source == "csv" and not labels_file:
        return "The csv source needs a labels CSV (columns path, age, gender, race[, split])."
    roots = paths.data_roots()
    for what, value in (("Dataset folder", root), ("Labels CSV", labels_file)):
        if value and not paths.is_under_data_root(value, roots):
            return (f"{what} {value!r} is outside the folders the dashboard may read: "
                    f"{', '.join(map(str, roots))}. Move or link the data there, set "
                    "FACESCOPE_DATA_ROOTS, or train from the command line "
                    "(`python -m modelkit train ... --background`).")
    for what, value, is_ok in (("Dataset folder", root, os.path.isdir),
                               ("Labels CSV", labels_file, os.path.isfile)):
        if value and not is_ok(os.path.expanduser(value)):
            return f"{what} {value!r} does not exist."
    return None


def _target(text: str) -> str | int:
    text = text.strip().lower()
    if text in ("max", "median"):
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"Balance target must be max, median or a positive count, got {text!r}.")


def train_form_ui() -> dict | None:
    """The run form. Returns the train config when Start is pressed and valid, else None.

    Defaults train something useful in minutes on a CPU: the synthetic set, small_cnn,
    64 px images.
    """
    with st.form("train_form"):
        data, model = st.columns(2)
        source = data.selectbox("Dataset", SOURCES, key="train_source",
                                index=SOURCES.index("synthetic") if "synthetic" in SOURCES else 0)
        root = data.text_input("Dataset folder", key="train_root",
                               help="Not needed for synthetic. Must lie under: "
                                    + ", ".join(map(str, paths.data_roots())))
        labels_file = data.text_input("Labels CSV (csv source)", key="train_labels")
        limit = data.number_input("Use at most N images (0 = all)", min_value=0, value=0,
                                  step=100, key="train_limit")
        backbone = model.selectbox("Backbone", BACKBONES, key="train_backbone")
        image_size = model.select_slider("Image size (px)", (32, 48, 64, 96, 128, 160, 224),
                                         value=64, key="train_image_size")
        epochs = model.number_input("Epochs", min_value=1, max_value=500, value=5,
                                    key="train_epochs")
        batch_size = model.number_input("Batch size", min_value=1, max_value=1024, value=32,
                                        key="train_batch_size")
        lr = model.number_input("Learning rate", min_value=1e-6, max_value=1.0, value=1e-3,
                                format="%.0e", step=1e-4, key="train_lr")
        st.markdown("**Balance plan** (oversampling with augmentation) and **loss weights**")
        plan = st.columns(3)
        balance = plan[0].selectbox("Balance", BALANCE_CHOICES, key="train_balance")
        target = plan[1].text_input("Target per group", value="median", key="train_target",
                                    help="max, median or a number of images")
        max_repeat = plan[2].number_input("Max repeat", min_value=1, max_value=100, value=4,
                                          key="train_max_repeat")
        weights = st.columns(3)
        loss_weights = {head: weights[i].number_input(f"{head} loss weight", min_value=0.0,
                                                      value=1.0, step=0.1,
                                                      key=f"train_weight_{head}")
                        for i, head in enumerate(labels.HEADS)}
        submitted = st.form_submit_button("Start training", type="primary", key="train_start")
    if not submitted:
        return None
    error = path_error(source=source, root=root.strip(), labels_file=labels_file.strip())
    try:
        target_value = _target(target)
    except ValueError as exc:
        error = error or str(exc)
    if error:
        st.error(error)
        return None
    return {
        "source": source,
        "root": os.path.expanduser(root.strip()) if root.strip() and source != "synthetic" else None,
        "labels": os.path.expanduser(labels_file.strip()) if labels_file.strip() else None,
        "backbone": backbone, "image_size": int(image_size), "epochs": int(epochs),
        "batch_size": int(batch_size), "lr": float(lr),
        "balance": None if balance == "none" else balance,
        "target": target_value if balance != "none" else None,
        "max_repeat": int(max_repeat) if balance != "none" else None,
        "loss_weights": loss_weights, "limit": int(limit) or None,
    }


def start(config: dict) -> rk.RunInfo | None:
    """Submit ``config`` (returns at once) and remember the run as the one to watch.

    A double click submits the same config twice within a second; the launcher returns
    the first run for the second submit (see ``modelkit.runs.start_run``).
    """
    try:
        run = rk.start_run(config)
    except ValueError as exc:
        st.error(f"Could not start the run: {exc}")
        return None
    st.session_state["train_watch"] = run.id  # the picker below shows it
    return run


# ----------------------------------------------------------------------------- device

@st.cache_resource(show_spinner=False)
def _devices(use_tensorflow: bool) -> dict:
    return rk.detect_devices(use_tensorflow=use_tensorflow)


def device_ui() -> None:
    """Which device training will use; the exact check (TensorFlow) on demand."""
    exact = st.session_state.get("train_device_exact", False)
    with st.spinner("Asking TensorFlow which devices it sees...") if exact else nullcontext():
        info = _devices(exact)
    name = ", ".join(info["names"]) if info["names"] else info["kind"]
    st.sidebar.markdown(f"**Training device:** {name}")
    st.sidebar.caption(info["note"])
    if not exact and st.sidebar.button("Check with TensorFlow", key="train_device_check"):
        st.session_state["train_device_exact"] = True
        st.rerun()


# ----------------------------------------------------------------------------- run picking

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


# ----------------------------------------------------------------------------- live panel

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
    """Cancel (queued or running) and Resume (cancelled or failed) buttons."""
    left, right, _ = st.columns([1, 1, 4])
    if run.state in ("queued", *rk.ACTIVE):
        if left.button("Cancel", key=f"train_cancel_{run.id}", disabled=run.state == "cancelling",
                       help="Stops at the next batch and keeps a checkpoint"):
            _act(rk.cancel, run.id)
    if run.state in ("cancelled", "failed"):
        if right.button("Resume", key=f"train_resume_{run.id}", type="primary",
                        help="Continues from the last checkpoint to the planned epochs"):
            _act(rk.resume, run.id)


def _act(action, run_id: str) -> None:
    try:
        action(run_id)
    except ValueError as exc:  # it ended meanwhile: say so, the next redraw shows it
        st.warning(str(exc))
    else:
        st.rerun(scope="fragment")


def run_panel(run_id: str) -> None:
    """Everything about one run: state, progress, curves, log. Redrawn every 2 s."""
    try:
        run = rk.show(run_id)
    except ValueError:
        st.info(f"Run {run_id} is gone (deleted).")
        return
    # The queue sits outside this fragment: when the watched run changes state (it
    # finished, or a queued one started), redraw the whole page.
    seen = st.session_state.setdefault("train_panel_states", {})
    if seen.get(run.id, run.state) != run.state:
        seen[run.id] = run.state
        st.rerun(scope="app")
    seen[run.id] = run.state
    found = rk.list_runs(reconcile_first=False)
    where = rk.progress(run)
    icon = runs_view.STATE_ICONS.get(run.state, "")
    st.subheader(f"{icon} {run.id} — {run.state}")
    st.caption(f"{run.config.get('source')} · {run.config.get('backbone')} · "
               f"{run.config.get('image_size')} px · batch {run.config.get('batch_size')} · "
               f"lr {run.config.get('lr')} · folder {run.run_dir}")
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
    queue_ui(found)


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
        for head, tab in zip(labels.HEADS, st.tabs([runs_view.HEAD_TITLES[h] for h in labels.HEADS])):
            with tab:
                st.plotly_chart(runs_view.head_curves_figure(frame, head=head),
                                key=f"train_head_{head}_{run.id}")


live_run_panel = st.fragment(run_every=REFRESH_S)(run_panel)
