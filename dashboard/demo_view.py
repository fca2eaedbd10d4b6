"""The empty state's way out: train a one-minute demo without leaving the page.

Evaluate, Explain and Compare have nothing to show on a fresh install. Each calls
:func:`demo_button_ui` under its "nothing yet" message: a button that starts the demo
run (``modelkit.runs.demo.DEMO``: small_cnn on the synthetic faces, ``DEMO_TIME``) or,
for Compare, the demo experiment (the demo rebalanced by race and its control), in the
background. While it trains the button gives way to its progress and a button to the
Train page, which watches it; the page redraws itself when the demo has finished.
A second click returns the demo already under way (``modelkit.runs.demo``).
"""

from __future__ import annotations

import streamlit as st

from modelkit import runs as rk
from modelkit.runs import demo

TRAIN_PAGE = "pages/train.py"
REFRESH_S = 3


def _progress(run: rk.RunInfo) -> str:
    if run.state == "queued":
        return f"`{run.id}` is queued (#{run.queue_position})"
    return f"`{run.id}` is {run.state}, epoch {run.epoch or 0}/{run.epochs or run.config.get('epochs')}"


def _watching(ids: list[str]) -> None:
    """The demo's progress, redrawn every REFRESH_S s; the page reruns once it is done."""
    found = []
    for run_id in ids:
        try:
            found.append(rk.show(run_id))
        except ValueError:  # deleted meanwhile
            continue
    if found and all(run.is_final for run in found):
        st.rerun(scope="app")  # the page has something to show now (or says why not)
    st.caption("Demo: " + "; ".join(_progress(run) for run in found) + ".")


_live = st.fragment(run_every=REFRESH_S)(_watching)


def demo_button_ui(*, key: str, experiment: bool = False) -> list[rk.RunInfo]:
    """Offer the demo run (``experiment=True``: the demo experiment pair), or show the
    one under way; returns the demo runs queued or training (empty when none is).

    Args:
        key: an app-unique widget key prefix (``evaluate_demo``, ``explain_demo``...).
        experiment: start the demo experiment (two runs, for the Compare page).
    """
    pending = demo.pending_demos(experiment=experiment)
    what = ("a demo experiment: the demo run rebalanced by race and its control without "
            f"rebalancing, {demo.DEMO_EXPERIMENT_TIME} in all on 2 CPU cores" if experiment else
            f"a demo run: a small CNN on {demo.DEMO.limit:,} synthetic faces, "
            f"{demo.DEMO_TIME} on 2 CPU cores")
    if not pending:
        st.markdown(f"New here? Train {what}, in the background; the Train page watches it.")
        if st.button("Train a demo experiment" if experiment else "Train a demo run",
                     key=f"{key}_start", type="primary", icon=":material/rocket_launch:"):
            pending = demo.start_demo_experiment() if experiment else [demo.start_demo()]
            st.session_state["train_watch"] = pending[0].id
    if pending:
        st.success(f"Training {what}. Watch it on the Train page; this page fills in "
                   "when it has finished.")
        _live([run.id for run in pending])
        if st.button("Watch it on the Train page", key=f"{key}_watch",
                     icon=":material/model_training:"):
            st.session_state["train_watch"] = pending[0].id
            st.switch_page(TRAIN_PAGE)
    return pending
