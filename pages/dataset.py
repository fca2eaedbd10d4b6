"""Dataset: a face set's age / gender / race balance, before and after the plan."""

import streamlit as st

from dashboard import dataset_view as view
from modelkit import labels
from modelkit.cli.data import SOURCES

st.title("Dataset")
st.caption("How balanced is the data the model will learn from, and what the augmentation plan does to it.")

with st.sidebar:
    st.header("Source")
    source = st.selectbox("Dataset", SOURCES, key="ds_source",
                          help="synthetic is generated on first use; the others read your own files")
    root = labels_file = ""
    if source != "synthetic":
        root = st.text_input("Dataset folder", key="ds_root",
                             placeholder="e.g. ../shared/data/utkface_sample" if source == "utkface" else "")
    if source == "csv":
        labels_file = st.text_input("Labels CSV (path, age, gender, race)", key="ds_labels")
    limit = st.number_input("Use at most N images (0 = all)", min_value=0, value=0, step=1000, key="ds_limit")

    st.header("Balance plan")
    balance = st.selectbox("Rebalance", ("age_group", "race", "gender", "joint", "none"), key="ds_balance",
                           format_func=lambda a: {"joint": "age × gender × race cells", "none": "no rebalancing"}
                           .get(a, a.replace("_", " ")))
    target_kind = st.radio("Raise each value towards", ("max", "median", "a number"), horizontal=True, key="ds_target")
    target = target_kind
    if target_kind == "a number":
        target = int(st.number_input("Target count", min_value=0, value=1000, step=100, key="ds_target_n"))
    max_repeat = int(st.slider("Most uses of one image (K)", 1, 20, 4, key="ds_k",
                               help="count after = max(n, min(target, n × K)): originals kept, reuse capped"))

for path, what in ((root, "Dataset folder"), (labels_file, "Labels file")):
    error = view.check_dataset_path(path, what=what)
    if error:
        st.error(error)
        st.stop()
if source not in ("synthetic", "csv") and not root:
    st.info(f"Type the {source} dataset folder in the sidebar.")
    st.stop()
if source == "csv" and not labels_file:
    st.info("Type the path of a CSV with columns path, age, gender, race in the sidebar.")
    st.stop()

try:
    dataset = view.cached_dataset(source, root or None, labels_file or None, int(limit) or None)
except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
    st.error(f"Could not read this dataset: {exc}")
    st.stop()

manifest = dataset.manifest
cols = st.columns(6)
cols[0].metric("Images", f"{len(manifest):,}")
cols[1].metric("Skipped", f"{len(dataset.skipped):,}")
cols[2].metric("Race classes", len(dataset.race_classes))
split_counts = manifest["split"].value_counts()
for column, split in zip(cols[3:], labels.SPLITS):
    column.metric(f"{split.capitalize()} split", f"{split_counts.get(split, 0):,}")
if manifest.empty:
    st.warning("No usable image was found. The skipped files and their reasons are below.")

tables = view.cached_counts(source, root or None, labels_file or None, int(limit) or None,
                            balance, target, max_repeat)
measure = st.segmented_control("Show", ("images", "share"), default="images", key="ds_measure") or "images"
for column, attribute in zip(st.columns(3), labels.ATTRIBUTES):
    with column:
        st.plotly_chart(view.before_after_figure(tables[attribute], attribute=attribute, measure=measure),
                        width="stretch", key=f"ds_fig_{attribute}")
if balance != "none":
    after_n = int(tables["gender"].query("stage == 'after plan'")["images"].sum())
    st.caption(f"The plan shows {after_n:,} images per epoch instead of {len(manifest):,}; "
               "repeats are augmented on the fly so copies differ. Balancing one attribute shifts the others.")

if len(manifest):
    st.subheader("Age group × other attribute")
    other = st.radio("Against", ("race", "gender"), horizontal=True, key="ds_heat_other")
    st.plotly_chart(view.heatmap_figure(manifest, rows="age_group", columns=other), width="stretch",
                    key="ds_heatmap")

    st.subheader("Example faces and their augmented variants")
    seed = st.session_state.setdefault("ds_examples_seed", 0)
    if st.button("Other examples", key="ds_reshuffle"):
        st.session_state["ds_examples_seed"] = seed = seed + 1
    examples = view.example_rows(manifest, n=6, seed=seed)
    for row in examples.itertuples():
        faces = st.columns(7)
        faces[0].image(view.thumbnail(row.path), caption=view.caption(row), width="stretch")
        for i, variant in enumerate(view.augmented_thumbnails(row.path, 6, seed)):
            faces[i + 1].image(variant, caption="augmented" if i == 0 else None, width="stretch")

if dataset.skipped:
    st.subheader(f"Skipped files ({len(dataset.skipped):,})")
    st.dataframe(view.skipped_table(dataset), width="stretch", hide_index=True)
