"""The Compare page's "Faces" picker (each run's own test split, or an evaluation set)
and the runs that can be compared on them.

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
from modelkit.evaluate.compare.inputs import comparability, resolve_run
from modelkit.prediction.evalsets import list_eval_sets
from modelkit.runfolder import CONFIG_FILE, LAUNCH_FILE, STATUS_FILE
from modelkit.runs import ACTIVE, read_status

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


def candidate_runs(on: str = "") -> tuple[list[str], dict[str, str]]:
    """Run ids that can be compared (finished, with predictions; newest first) and
    the others under the runs root with the reason they cannot. On an evaluation set
    ``on``: the runs and outside models that have it."""
    if on:
        return having_set(on), {}
    usable, reasons = [], {}
    with_predictions = loaders.runs_with_predictions()
    for folder in with_predictions:
        if (read_status(folder) or {}).get("state") in ACTIVE:  # retrained: old predictions
            reasons[folder.name] = comparability(resolve_run(folder), split="test")
        else:
            usable.append(folder.name)
    root, named = paths.runs_root(), {f.name for f in with_predictions}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and folder.name not in named and _looks_like_run(folder):
            reasons[folder.name] = comparability(resolve_run(folder), split="test") or "no predictions"
    return usable, reasons


def _looks_like_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (CONFIG_FILE, STATUS_FILE, LAUNCH_FILE))
