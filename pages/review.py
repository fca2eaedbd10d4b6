"""Review: the labels most likely wrong, one click each to keep, fix or exclude.

Pick a finished run and a head; the page shows its top suspects (out-of-sample
predictions on the run's embeddings, scored by cleanlab), most suspicious first. A
decision goes to the dataset's corrections file at once, never to the dataset; train
with it here or with `train --corrections FILE`, then compare the runs.
"""

import streamlit as st

from dashboard import loaders
from dashboard import review_cards as cards
from dashboard import review_view as view

st.title("Review labels")
st.caption("Faces whose label is most likely wrong, by out-of-sample predictions on the "
           "run's own embeddings (cleanlab). Decisions never change the dataset's files.")

runs = loaders.runs_with_model()
if not runs:
    st.info("No trained model yet. Train a run on the Train page, or point "
            "FACESCOPE_RUNS_ROOT at your runs.")
    st.stop()

with st.sidebar:
    run_dir = view.run_ui(runs)
    head = view.head_ui()

table = view.ranking_ui(run_dir)
if table is None:
    st.stop()
st.caption(view.summary_caption(run_dir))

file = view.corrections_file(run_dir)
decided = view.decisions(file)
with st.sidebar:
    rows = view.filters_ui(table, head=head, decided=decided)

view.counter_ui(rows, decided)
shown = view.page_rows(rows)
target = cards.Target(file=file, race_classes=tuple(view.race_classes(run_dir)))
cards.gallery_ui(shown, decided=decided, target=target)

view.retrain_ui(run_dir, file=file, n_decisions=len(decided))
