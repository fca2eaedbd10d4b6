"""Dataset page helpers: the sidebar's widget groups, cached loaders, the sections.

The page shows what training will see. Its before/after bars are the **train split**
and **one training epoch** of it under the plan: ``modelkit.balance.training_plan``,
the function ``train`` calls, with ``TrainConfig``'s defaults (``modelkit.config``).
The heatmap counts the whole dataset (all splits) and says so.

Loading is cached on the arguments (the scan itself is also cached on disk by
``modelkit.data.scan``), so changing the balance plan re-renders from memory
even for a FairFace-sized manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import corrections_view
from dashboard.dataset_figures import AFTER, BEFORE, before_after_figure, heatmap_figure
from dashboard.titles import ATTRIBUTE_TITLES, BALANCE_TITLES, SOURCE_TITLES
from modelkit import config as cfg
from modelkit import labels
from modelkit.balance import TRAIN_SPLIT, epoch_counts, split_part, training_plan
from modelkit.data import load_dataset
from modelkit.data.manifest import Dataset, counts
from modelkit.paths import check_data_path

D = cfg.DEFAULTS
A_NUMBER = "a number"
PLACEHOLDERS = {"utkface": "e.g. ../shared/data/utkface_sample",
                "fairface": "e.g. ../shared/data/fairface_sample"}


# ------------------------------------------------------------------ sidebar widget groups
@dataclass(frozen=True)
class SourceChoice:
    """The dataset the sidebar names (empty strings where nothing was typed)."""

    source: str
    root: str = ""
    labels: str = ""
    limit: int | None = None


def source_ui() -> SourceChoice:
    """The "Source" group: dataset kind, folder, labels file, size limit."""
    st.header("Source")
    source = st.selectbox("Dataset", cfg.SOURCES, index=cfg.SOURCES.index(D.source),
                          format_func=SOURCE_TITLES.get, key="ds_source",
                          help="synthetic is generated on first use; the others read your own files")
    root = labels_file = ""
    if source != "synthetic":
        root = st.text_input("Dataset folder", key="ds_root", placeholder=PLACEHOLDERS.get(source, ""))
    if source == "csv":
        labels_file = st.text_input("Labels CSV (path, age, gender, race)", key="ds_labels")
    limit = st.number_input("Use at most N images (0 = all)", min_value=0, value=0, step=1000,
                            key="ds_limit")
    return SourceChoice(source=source, root=root, labels=labels_file, limit=int(limit) or None)


def plan_ui(choice: SourceChoice) -> cfg.TrainConfig:
    """The "Balance plan" group, defaulting to ``TrainConfig``'s plan; returns the
    ``TrainConfig`` (training's defaults elsewhere) whose epoch the page shows."""
    st.header("Balance plan")
    balance = st.selectbox("Rebalance", cfg.BALANCE_MODES, index=cfg.BALANCE_MODES.index(D.balance),
                           format_func=BALANCE_TITLES.get, key="ds_balance",
                           help="oversample the train split to even out this attribute")
    off = balance == "none"
    kinds = (*cfg.TARGET_WORDS, A_NUMBER)
    kind = st.radio("Raise each value towards", kinds, horizontal=True, key="ds_target",
                    index=kinds.index(A_NUMBER if isinstance(D.target, int) else D.target), disabled=off)
    target = kind
    if kind == A_NUMBER:
        target = int(st.number_input("Target count", min_value=1, step=100, key="ds_target_n",
                                     value=D.target if isinstance(D.target, int) else 1000))
    max_repeat = st.slider("Most uses of one image (K)", 1, max(20, D.max_repeat), D.max_repeat,
                           key="ds_k", disabled=off,
                           help="count after = max(n, min(target, n × K)): originals kept, reuse capped")
    return cfg.TrainConfig(source=choice.source, root=choice.root or None,
                           labels=choice.labels or None, limit=choice.limit, balance=balance,
                           target=target, max_repeat=int(max_repeat))


def source_problem(config: cfg.TrainConfig) -> tuple[str | None, str | None]:
    """``(error, hint)`` to show instead of the page, or ``(None, None)``: a typed path
    outside the data roots is an error, a path not typed yet a hint."""
    for path, what in ((config.root, "Dataset folder"), (config.labels, "Labels file")):
        error = check_dataset_path(path or "", what=what)
        if error:
            return error, None
    if config.source not in ("synthetic", "csv") and not config.root:
        return None, f"Type the {SOURCE_TITLES[config.source]} dataset folder in the sidebar."
    if config.source == "csv" and not config.labels:
        return None, "Type the path of a CSV with columns path, age, gender, race in the sidebar."
    return None, None


def check_dataset_path(path: str, *, what: str) -> str | None:
    """The error to show for a typed path ``check_data_path`` refuses, or None (also
    for nothing typed yet: ``source_problem`` hints at that).

    The dashboard may be reachable by others: it must not become a way to read
    arbitrary files on the server (``/etc``...)."""
    if not path:
        return None
    try:
        check_data_path(path)
    except ValueError as exc:
        return f"{what} {exc}"
    return None


# ------------------------------------------------------------------------------ loaders
@st.cache_data(show_spinner="Reading the dataset (first time: every image is checked once)…", max_entries=8)
def cached_dataset(source: str, root: str | None, labels_file: str | None, limit: int | None,
                   seed: int = D.seed) -> Dataset:
    """The dataset as ``train`` reads it (``prepare.load_training_dataset``: the same
    subset and split seed)."""
    return load_dataset(source, root=root or None, labels=labels_file or None, limit=limit, seed=seed)


def epoch_tables(manifest: pd.DataFrame, config: cfg.TrainConfig) -> dict[str, pd.DataFrame]:
    """Per attribute, a tidy table (value, stage, images, share): the train split as it
    is (``before``) and one training epoch under ``config``'s plan (``after plan``)."""
    train = split_part(manifest, TRAIN_SPLIT)
    plan = training_plan(manifest, balance=config.balance, target=config.target,
                         max_repeat=config.max_repeat, seed=config.seed)
    return {a: counts_table(counts(train, a), epoch_counts(train, plan, a)) for a in labels.ATTRIBUTES}


@st.cache_data(max_entries=32)
def cached_epoch_tables(source: str, root: str | None, labels_file: str | None, limit: int | None,
                        seed: int, balance: str, target, max_repeat: int, corrections: str | None = None,
                        stamp: tuple | None = None) -> dict[str, pd.DataFrame]:
    config = cfg.TrainConfig(source=source, root=root, labels=labels_file, limit=limit, seed=seed,
                             balance=balance, target=target, max_repeat=max_repeat)
    dataset = cached_dataset(source, root, labels_file, limit, seed)
    if corrections:  # the label decisions applied, as train --corrections applies them
        dataset = corrections_view.corrected(dataset, (source, root, labels_file, limit, seed),
                                             corrections, stamp)[0]
    return epoch_tables(dataset.manifest, config)


def counts_table(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    rows = []
    for stage, series in ((BEFORE, before), (AFTER, after)):
        total = max(int(series.sum()), 1)
        for value, n in series.items():
            rows.append({"value": str(value), "stage": stage, "images": int(n), "share": n / total})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- page sections
def overview_ui(dataset: Dataset) -> None:
    """Images, skipped files, race classes and the split sizes, as metrics."""
    manifest = dataset.manifest
    cols = st.columns(6)
    cols[0].metric("Images", f"{len(manifest):,}", help="all splits")
    cols[1].metric("Skipped", f"{len(dataset.skipped):,}")
    cols[2].metric("Race classes", len(dataset.race_classes))
    split_counts = manifest["split"].value_counts()
    for column, split in zip(cols[3:], labels.SPLITS, strict=True):
        column.metric(f"{split.capitalize()} split", f"{split_counts.get(split, 0):,}")
    if manifest.empty:
        st.warning("No usable image was found. The skipped files and their reasons are below.")


def epoch_ui(dataset: Dataset, config: cfg.TrainConfig) -> None:
    """The heart of the page: the train split before and after the plan, per attribute,
    and a caption stating the images one epoch of ``train`` holds."""
    tables = cached_epoch_tables(config.source, config.root, config.labels, config.limit,
                                 config.seed, config.balance, config.target, config.max_repeat,
                                 config.corrections, corrections_view.file_stamp(config.corrections))
    st.subheader("One training epoch: the train split, before and after the plan")
    measure = st.segmented_control("Show", ("images", "share"), default="images", key="ds_measure") or "images"
    for column, attribute in zip(st.columns(3), labels.ATTRIBUTES, strict=True):
        with column:
            st.plotly_chart(before_after_figure(tables[attribute], attribute=attribute, measure=measure),
                            width="stretch", key=f"ds_fig_{attribute}")
    st.caption(epoch_caption(tables, config=config, n_images=len(dataset.manifest)))


def epoch_caption(tables: dict[str, pd.DataFrame], *, config: cfg.TrainConfig, n_images: int) -> str:
    """What one epoch holds, in words, with the flags that train it."""
    stage = tables[labels.ATTRIBUTES[0]].groupby("stage")["images"].sum()
    n_train, n_epoch = int(stage.get(BEFORE, 0)), int(stage.get(AFTER, 0))
    scope = f"{n_images:,} images in all splits; validation and test are never rebalanced"
    if config.balance == "none":
        return (f"No rebalancing: training sees the train split as it is, {n_train:,} images per "
                f"epoch ({scope}).")
    return (f"With this plan, training sees {n_epoch:,} images per epoch from the train split's "
            f"{n_train:,} ({scope}). Repeats are augmented on the fly so copies differ; balancing "
            f"one attribute shifts the others. Train with it: `--balance {config.balance} "
            f"--target {config.target} --max-repeat {config.max_repeat}`.")


def heatmap_ui(manifest: pd.DataFrame) -> None:
    """Age group × race or gender over the whole dataset (all splits, no plan)."""
    st.subheader("Whole dataset (all splits, no plan): age group × other attribute")
    other = st.radio("Against", ("race", "gender"), horizontal=True, key="ds_heat_other",
                     format_func=ATTRIBUTE_TITLES.get)
    st.plotly_chart(heatmap_figure(manifest, rows="age_group", columns=other), width="stretch",
                    key="ds_heatmap")


def examples_ui(manifest: pd.DataFrame) -> None:
    """A few faces with six augmented variants each; a button draws other faces."""
    st.subheader("Example faces and their augmented variants")
    seed = st.session_state.setdefault("ds_examples_seed", 0)
    if st.button("Other examples", key="ds_reshuffle"):
        st.session_state["ds_examples_seed"] = seed = seed + 1
    for row in example_rows(manifest, n=6, seed=seed).itertuples():
        faces = st.columns(7)
        faces[0].image(thumbnail(row.path), caption=caption(row), width="stretch")
        for i, variant in enumerate(augmented_thumbnails(row.path, 6, seed)):
            faces[i + 1].image(variant, caption="augmented" if i == 0 else None, width="stretch")


def skipped_ui(dataset: Dataset) -> None:
    if dataset.skipped:
        st.subheader(f"Skipped files ({len(dataset.skipped):,})")
        st.dataframe(skipped_table(dataset), width="stretch", hide_index=True)


# ------------------------------------------------------------------------ examples
def example_rows(manifest: pd.DataFrame, *, n: int, seed: int) -> pd.DataFrame:
    """A few faces spread over age groups, for the example grid."""
    if manifest.empty:
        return manifest
    return manifest.sample(n=min(n, len(manifest)), random_state=seed)


@st.cache_data(max_entries=256)
def thumbnail(path: str, size: int = 96) -> np.ndarray:
    from modelkit.data.decode import decode_file  # TensorFlow: loaded on first use

    return decode_file(path, image_size=size)  # the pixels training sees at this size


@st.cache_data(max_entries=64, show_spinner=False)
def augmented_thumbnails(path: str, n: int, seed: int, size: int = 96) -> np.ndarray:
    # Keras is imported here, not at page load: the first page view stays fast.
    from modelkit.augment import augmented_examples

    return augmented_examples(thumbnail(path, size), n=n, seed=seed)


def caption(row) -> str:
    age = f"{row.age:.0f}" if pd.notna(row.age) else str(row.age_group)
    parts = [age, row.gender if pd.notna(row.gender) else "?", row.race if pd.notna(row.race) else "?"]
    return " · ".join(str(p) for p in parts)


def skipped_table(dataset: Dataset) -> pd.DataFrame:
    return pd.DataFrame([s.to_dict() for s in dataset.skipped], columns=["path", "reason"])

