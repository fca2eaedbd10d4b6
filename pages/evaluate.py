"""Evaluate: where does the model fail, and for whom?

Pick a run or an outside model (and optionally a second to compare); confusion matrices per head,
figures per demographic group with intervals, age error against true age, the worst
groups and the worst errors, each one click from its saliency map.
"""

import streamlit as st

from dashboard import calibration_view, demo_view, eval_sets_view, loaders, report_view
from dashboard import evaluate_view as view

st.title("Evaluate")

runs = loaders.runs_with_predictions() + loaders.outside_models()
if not runs:
    st.info("No run with predictions yet. Train one on the Train page (predictions are "
            "written when training finishes), or point FACESCOPE_RUNS_ROOT at your runs.")
    demo_view.demo_button_ui(key="evaluate_demo")
    st.stop()

picked, compared = view.run_picker_ui(runs)
run_dir, compare_dir = eval_sets_view.evaluation_set_ui(picked, compared)  # own split or another set
if run_dir is None:  # an outside model not yet predicted on any set: the form is shown
    st.stop()
report_view.download_report_ui(picked, on=st.session_state.get("evaluate_set") or None,
                               compare=[compared] if compare_dir is not None else [], key="evaluate_report")
predictions = loaders.predictions(str(run_dir), loaders.predictions_mtime(run_dir))
splits = view.evaluation_splits(predictions)
if not splits:
    st.info(f"{run_dir.name} has no val or test predictions to evaluate.")
    st.stop()
split = view.split_ui(splits)
where = view.group_filter_ui(predictions)
normalize = st.sidebar.toggle("Normalise rows (share of each true class)", key="evaluate_normalize")

shown = view.evaluated_runs_ui(run_dir, compare_dir, split=split)
view.overall_ui(shown, split=split)

st.header("Confusion matrices")
view.confusion_ui(shown, split=split, where=where, normalize=normalize)

st.header("By group")
metric, small_n = view.by_group_ui(shown)

st.header("Age error against true age")
view.age_error_ui(shown, split=split, where=where)

st.header("Worst groups")
view.worst_groups_ui(shown[0], metric=metric, small_n=small_n)
calibration_view.calibration_ui(shown)

st.header("Worst errors")
view.worst_errors_ui(shown[0], split=split, where=where)
