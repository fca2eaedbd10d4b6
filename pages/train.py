"""Train: start a run in the background, then watch it live, cancel or resume it.

The run is its own process: closing the tab or restarting the server does not stop
it, and this page picks it up again (the Runs page lists them all). The page reads the
registry; it reconciles it (a write) at most every few seconds per server.
"""

import streamlit as st

from dashboard import experiments_view, runs_view, signin
from dashboard import run_panel_view as panel
from dashboard import train_view as view
from modelkit import runs

st.title("Train")
view.device_ui()
runs_view.reconcile_due()
found = runs.list_runs()

config = None
if signin.can("run.start"):
    with st.expander("New run", expanded=not found):
        config = view.train_form_ui()
else:
    signin.role_note("run.start")
if config is not None and experiments_view.wants_control():  # and a control run
    if experiments_view.start_experiment_ui(config):
        found = runs.list_runs()
elif config is not None:
    run = view.start(config)
    if run is not None:
        st.success(f"Run {run.id} is {run.state}"
                   + (f" (#{run.queue_position} in the queue)." if run.queue_position else "."))
        found = runs.list_runs()
experiments_view.experiment_box_ui(found)

if not found:
    st.info("No runs yet: fill in the form above and press Start training."
            if signin.can("run.start") else "No runs yet.")
    st.stop()

run_id = panel.pick_run_ui(found)
panel.live_run_panel(run_id)
panel.queue_ui(found)
