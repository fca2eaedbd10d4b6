"""The Compare page's "Faces" picker: each run's own test split, or an evaluation set.

An evaluation set (``<run>/eval/<NAME>/``, made by ``predict --name NAME``) holds a
model's predictions on another dataset. Outside models (``modelkit.outside``) have no
split of their own, so an evaluation set is how they are compared with a run or with
each other: every run and model that has the set ``NAME`` is a candidate.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import loaders
from modelkit import paths
from modelkit.prediction.evalsets import list_eval_sets

OWN_SPLIT = ""  # the "Faces" option of each run's own split


def _folders() -> list[Path]:
    root = paths.runs_root()
    runs = [f for f in root.iterdir() if f.is_dir()] if root.is_dir() else []
    return runs + loaders.outside_models()


def evaluation_set_names() -> list[str]:
    """The evaluation sets (``predict --name``) any run or outside model has, by name."""
    return sorted({s.name for f in _folders() for s in list_eval_sets(f)})


def faces_ui() -> str:
    """Sidebar: compare on each run's own test split, or on an evaluation set (the one
    way to compare outside models, which have no split of their own)."""
    options = [OWN_SPLIT] + evaluation_set_names()
    return st.sidebar.selectbox(
        "Faces", options, key="compare_on",
        format_func=lambda n: "each run's own split" if n == OWN_SPLIT else f"evaluation set {n}",
        help="An evaluation set is a model's predictions on another dataset (Evaluate page, "
             "'Predict on another dataset'); outside models are compared on those")



def having_set(name: str) -> list[str]:
    """The runs and outside models that have evaluation set ``name``."""
    return [f.name for f in _folders() if any(s.name == name for s in list_eval_sets(f))]
