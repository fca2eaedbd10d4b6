"""The Train form's "Estimate time": a planned run's wall time before it starts.

The figure comes from ``modelkit.runs.estimate``: the speed finished runs like it
measured, times the images the plan trains. Reading the dataset for the plan is the
Dataset page's cached read, so a second estimate on the same set costs nothing.
"""

from __future__ import annotations

import streamlit as st

from dashboard.dataset_view import cached_dataset
from modelkit import runs as rk
from modelkit.config import TrainConfig
from modelkit.runs.estimate import describe, estimate_run, images_per_epoch


def estimate_ui(config: TrainConfig) -> None:
    """Show how long ``config`` would take, or why that is not known yet."""
    try:
        dataset = cached_dataset(config.source, config.root, config.labels, config.limit,
                                 config.seed)
    except (OSError, ValueError) as exc:
        st.error(f"Cannot read the dataset to plan the run: {exc}")
        return
    per_epoch = images_per_epoch(dataset.manifest, config)
    if per_epoch == 0:
        st.error(f"The {config.source} dataset has no training images; check the folder.")
        return
    estimate = estimate_run(config, images_per_epoch=per_epoch, runs=rk.list_runs())
    st.info(describe(estimate, config), icon=":material/schedule:")
