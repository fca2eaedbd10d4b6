"""Compare: did the change work? Runs side by side on the same faces, group by group.

Pick a baseline and the runs to compare with it (or open the page from a link:
``compare?baseline=ID&runs=ID2,ID3``). Every change comes with a paired bootstrap
interval: the same faces resampled for both runs.
"""

import streamlit as st

from dashboard import compare_on_view, report_view
from dashboard import compare_view as view
from modelkit.prediction.evalsets import EVAL_SPLIT

st.title("Compare")

on = compare_on_view.faces_ui()  # each run's own split, or an evaluation set (outside models too)
names, reasons = compare_on_view.candidate_runs(on)
if len(names) < 2:
    view.empty_state_ui(names, reasons, on=on)
    st.stop()

baseline, others = view.picker_ui(names)
if not others:
    st.info("Pick one or more runs to compare with the baseline (sidebar).")
    st.stop()
split = view.split_ui(baseline) if not on else EVAL_SPLIT
result = view.compare_ui(baseline, others, split=split, on=on)
if result is None:
    st.stop()
view.summary_ui(result)
report_view.compare_report_ui(baseline, others, on=on)
view.not_comparable_ui(reasons)

st.header("What differs")
view.config_ui(result)

st.header("Overall")
view.headline_ui(result)

st.header("By group")
metric = view.by_group_ui(result)

st.header("Changes that hold up")
view.significant_ui(result)

st.header("Gaps between groups")
view.gaps_ui(result, metric=metric)

st.header("Training curves")
view.curves_ui(result)
