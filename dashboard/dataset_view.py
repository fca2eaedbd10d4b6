"""Dataset page helpers: cached loaders and the before/after figures.

Loading is cached on the arguments (the scan itself is also cached on disk by
``modelkit.data.images``), so changing the balance plan re-renders from memory
even for a FairFace-sized manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelkit import labels
from modelkit.balance import plan_balance
from modelkit.data import load_dataset, load_rgb
from modelkit.data.manifest import Dataset, counts
from modelkit.paths import data_roots, is_under_data_root

BEFORE_COLOUR, AFTER_COLOUR = "#9aa5b1", "#2a6fdb"
ATTRIBUTE_TITLES = {"age_group": "Age group", "gender": "Gender", "race": "Race"}


def check_dataset_path(path: str, *, what: str) -> str | None:
    """The error to show for a typed path outside the configured data roots, or None.

    The dashboard may be reachable by others: it must not become a way to read
    arbitrary files on the server (``/etc``...)."""
    if not path:
        return None
    if not is_under_data_root(path):
        roots = ", ".join(str(r) for r in data_roots())
        return (f"{what} {path!r} is outside the allowed data folders ({roots}). "
                "Put the dataset under one of them, or set FACESCOPE_DATA_ROOTS.")
    return None


@st.cache_data(show_spinner="Reading the dataset (first time: every image is checked once)…", max_entries=8)
def cached_dataset(source: str, root: str | None, labels_file: str | None, limit: int | None) -> Dataset:
    return load_dataset(source, root=root or None, labels=labels_file or None, limit=limit)


@st.cache_data(max_entries=32)
def cached_counts(source: str, root: str | None, labels_file: str | None, limit: int | None,
                  balance: str, target, max_repeat: int) -> dict[str, pd.DataFrame]:
    """Per attribute: a tidy table (value, stage, images, share) of before and after."""
    manifest = cached_dataset(source, root, labels_file, limit).manifest
    plan = None
    if balance != "none" and len(manifest):
        plan = plan_balance(manifest, attribute=balance, target=target, max_repeat=max_repeat)
    tables = {}
    for attribute in labels.ATTRIBUTES:
        before = counts(manifest, attribute)
        after = plan.counts_after(attribute) if plan is not None else before
        tables[attribute] = counts_table(before, after)
    return tables


def counts_table(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    rows = []
    for stage, series in (("before", before), ("after plan", after)):
        total = max(int(series.sum()), 1)
        for value, n in series.items():
            rows.append({"value": str(value), "stage": stage, "images": int(n), "share": n / total})
    return pd.DataFrame(rows)


def before_after_figure(table: pd.DataFrame, *, attribute: str, measure: str) -> go.Figure:
    """Grouped bars, before vs after, one pair per value; "not labelled" kept visible."""
    fig = px.bar(
        table, x="value", y=measure, color="stage", barmode="group",
        color_discrete_map={"before": BEFORE_COLOUR, "after plan": AFTER_COLOUR},
        category_orders={"value": list(dict.fromkeys(table["value"]))},
        text="images" if measure == "images" else table["share"].map("{:.0%}".format),
        labels={"value": ATTRIBUTE_TITLES[attribute], "images": "images", "share": "share of images"},
        title=ATTRIBUTE_TITLES[attribute],
    )
    # Numbers on the bars only where they fit; the nine age groups rely on hover.
    if table["value"].nunique() <= 7:
        fig.update_traces(textposition="outside", cliponaxis=False, textfont_size=11)
    else:
        fig.update_traces(text=None)
    if measure == "share":
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(legend_title_text="", legend=dict(orientation="h", y=-0.25),
                      margin=dict(t=50, b=10, l=10, r=10), height=380)
    return fig


def heatmap_figure(manifest: pd.DataFrame, *, rows: str, columns: str) -> go.Figure:
    """Images per cell of two attributes (e.g. age group × race), counts written in."""
    frame = manifest[[rows, columns]].copy()
    for column in (rows, columns):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), labels.NOT_LABELLED)
    table = pd.crosstab(frame[rows], frame[columns])
    order_r = [v for v in [*manifest[rows].cat.categories, labels.NOT_LABELLED] if v in table.index]
    order_c = [v for v in [*manifest[columns].cat.categories, labels.NOT_LABELLED] if v in table.columns]
    table = table.reindex(index=order_r, columns=order_c, fill_value=0)
    fig = px.imshow(table, text_auto=True, aspect="auto", color_continuous_scale="Blues",
                    labels={"x": ATTRIBUTE_TITLES[columns], "y": ATTRIBUTE_TITLES[rows], "color": "images"})
    fig.update_layout(margin=dict(t=30, b=10, l=10, r=10), height=420)
    return fig


def example_rows(manifest: pd.DataFrame, *, n: int, seed: int) -> pd.DataFrame:
    """A few faces spread over age groups, for the example grid."""
    if manifest.empty:
        return manifest
    return manifest.sample(n=min(n, len(manifest)), random_state=seed)


@st.cache_data(max_entries=256)
def thumbnail(path: str, size: int = 96) -> np.ndarray:
    return load_rgb(path, size=size)


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


def display_root(dataset: Dataset) -> str:
    return str(Path(dataset.root)) if dataset.root else ""
