"""Dataset: a face set's age / gender / race balance, and what one training epoch of
it holds under the balance plan (the same plan, on the same train split, as `train`)."""

import streamlit as st

from dashboard import corrections_view
from dashboard import dataset_view as view

st.title("Dataset")
st.caption("How balanced is the data the model will learn from, and what the balance plan "
           "makes of the train split in one training epoch.")

with st.sidebar:
    choice = view.source_ui()
    config = view.plan_ui(choice)
    config = corrections_view.dataset_toggle_ui(config)

error, hint = view.source_problem(config)
if error:
    st.error(error)
    st.stop()
if hint:
    st.info(hint)
    st.stop()

try:
    dataset = view.cached_dataset(config.source, config.root, config.labels, config.limit, config.seed)
except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
    st.error(f"Could not read this dataset: {exc}")
    st.stop()
dataset = corrections_view.apply_ui(dataset, config)

view.overview_ui(dataset)
if len(dataset.manifest):
    view.epoch_ui(dataset, config)
    view.heatmap_ui(dataset.manifest)
    view.examples_ui(dataset.manifest)
view.skipped_ui(dataset)
