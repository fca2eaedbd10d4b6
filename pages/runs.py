"""Runs: every training run, filtered, compared and cleaned up; the outside models.

Each run is a folder under the runs root; the table reads the registry
(``modelkit.runs``) and each run's metrics.jsonl. Reading writes nothing; the registry
is reconciled (dead runs marked failed) at most every few seconds per server.
"""

import streamlit as st

from dashboard import audit_view, experiments_view, loaders, models_view, signin
from dashboard import runs_view as view
from modelkit import runs

st.title("Runs")
view.reconcile_due()
found = runs.list_runs()
deleted = st.session_state.pop("runs_deleted", None)
if deleted:
    st.success(f"Deleted {deleted}.")
if not found:
    st.info("No runs yet. Start one on the Train page, or with "
            "`python -m modelkit train ... --background`.")
    models_view.models_ui(loaders.outside_models())
    audit_view.audit_ui()
    st.stop()

by_id = {run.id: run for run in found}
table = experiments_view.experiment_filter_ui(
    view.filters_ui(experiments_view.with_experiments(view.runs_table(found), found)))
st.dataframe(table, hide_index=True, key="runs_table",
             column_config={"started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
st.caption(f"{len(table)} of {len(found)} runs. Best values are over all epochs of the "
           "validation split.")

experiments_view.experiments_ui(found, shown=set(table["id"]))

chosen = view.compare_ui(table)
if len(chosen) >= 2:
    experiments_view.pair_compare_ui(chosen)
    view.comparison(chosen, by_id)
elif chosen:
    st.caption("Pick at least one more run to compare.")

if signin.can("run.delete"):
    view.delete_ui(list(by_id), by_id)
models_view.models_ui(loaders.outside_models())
audit_view.audit_ui()
