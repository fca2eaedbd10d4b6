"""The label decisions of the Review page, where other pages use them.

- Train page: a checkbox, on by default, that trains with the chosen dataset's
  corrections file when it holds decisions (``TrainConfig.corrections``).
- Dataset page: a toggle, on when the dataset has decisions, that shows the data as
  training with them would see it (``apply_corrections``, the function ``train``
  calls) and says "N relabelled, M excluded".
"""

from __future__ import annotations

import dataclasses
import os

import streamlit as st

from modelkit.config import TrainConfig
from modelkit.curation import corrections as cx
from modelkit.curation.apply import CorrectionReport, apply_corrections
from modelkit.data.manifest import Dataset


def decisions_file(*, source: str, root: str | None, labels_file: str | None) -> str | None:
    """The dataset's corrections file when it holds at least one standing decision."""
    file = cx.corrections_path(source=source, root=root or None, labels_file=labels_file or None)
    try:
        return str(file) if cx.latest_decisions(cx.read_decisions(file)) else None
    except ValueError:  # a damaged file: training would refuse it; say so at submit
        return str(file)


def file_stamp(file: str | None) -> tuple[int, int] | None:
    """(mtime_ns, size): a cache key part that changes with every appended decision."""
    if not file:
        return None
    try:
        stat = os.stat(file)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


# ---------------------------------------------------------------------------- Train page
def checkbox_ui(column) -> bool:
    return column.checkbox("Apply my label decisions (Review page)", value=True,
                           key="train_corrections",
                           help="relabel or drop the faces reviewed for this dataset; "
                                "ignored when the dataset has no decisions")


def chosen_file(wanted: bool, *, source: str, root: str | None, labels_file: str | None) -> str | None:
    """The corrections file the run trains with (None: not wanted, or no decisions),
    announced under the form."""
    file = decisions_file(source=source, root=root, labels_file=labels_file) if wanted else None
    if file:
        st.caption(f"Training with the label decisions in `{file}`.")
    return file


# -------------------------------------------------------------------------- Dataset page
def dataset_toggle_ui(config: TrainConfig) -> TrainConfig:
    """The sidebar toggle; returns ``config`` with ``corrections`` set when applied."""
    file = decisions_file(source=config.source, root=config.root, labels_file=config.labels)
    if file is None:
        return config
    apply = st.toggle("Apply my label decisions", value=True, key="ds_corrections",
                      help=f"as `train --corrections {file}` would: relabel, drop excluded faces")
    return dataclasses.replace(config, corrections=file) if apply else config


@st.cache_data(show_spinner=False, max_entries=16)
def corrected(_dataset: Dataset, dataset_key: tuple, file: str, stamp: tuple | None):
    """``apply_corrections`` on the cached dataset (``dataset_key`` names it for the
    cache, ``stamp`` is the file's mtime and size)."""
    return apply_corrections(_dataset, file=file)


def summary_ui(report: CorrectionReport | None) -> None:
    if report is not None:
        st.info(f"Label decisions applied: {report.summary()}.", icon=":material/fact_check:")


def apply_ui(dataset: Dataset, config: TrainConfig) -> Dataset:
    """The dataset with ``config.corrections`` applied (unchanged when it names none),
    and what that changed, said above the charts."""
    if not config.corrections:
        return dataset
    key = (config.source, config.root, config.labels, config.limit, config.seed)
    try:
        fixed, report = corrected(dataset, key, config.corrections, file_stamp(config.corrections))
    except (FileNotFoundError, ValueError) as exc:
        st.error(f"The label decisions cannot be applied: {exc}. Fix the file, or turn "
                 "\"Apply my label decisions\" off in the sidebar.")
        st.stop()
    summary_ui(report)
    return fixed
