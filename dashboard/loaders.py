"""Cached loaders shared by the pages: runs, predictions, evaluations, drill-downs,
thumbnails.

Streamlit reruns a page's script on every widget change, so anything read from disk
or computed from a run is cached here, once for every page. The caches are keyed by
the run folder *and the mtime of the file they read*: a retrained (or resumed) run
writes a new file, gets a new key and is picked up; a rerun with the same inputs costs
a lookup. Every function takes plain, hashable arguments (folder as ``str``, mtime,
split, head, a ``where`` dict of true labels) so the Evaluate, Explain and Compare
pages can share the entries.

Nothing here draws: the ``*_view`` modules do.

Example::

    runs = loaders.runs_with_predictions()
    mtime = loaders.predictions_mtime(runs[0])
    table = loaders.predictions(str(runs[0]), mtime)
    result = loaders.evaluation(str(runs[0]), mtime, "test")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from modelkit import evaluate as ev
from modelkit import paths

Where = Mapping[str, str | Sequence[str]]
THUMBNAIL_SIDE = 128


# ----------------------------------------------------------------------------- runs and files

def file_mtime(path: str | os.PathLike) -> float | None:
    """A file's mtime (the cache key part that changes when it is rewritten); None
    when there is no such file."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def runs_with(filename: str, *, root: str | os.PathLike | None = None) -> list[Path]:
    """Run folders under the runs root that hold ``filename`` (``predictions.parquet``,
    ``model.keras``...), the most recently written first. Reads the folders only; the
    registry is not touched, so listing never writes."""
    base = paths.runs_root(root)
    if not base.is_dir():
        return []
    found = [(stamp, folder) for folder in base.iterdir()
             if folder.is_dir() and (stamp := file_mtime(folder / filename)) is not None]
    return [folder for _, folder in sorted(found, key=lambda pair: pair[0], reverse=True)]


def runs_with_predictions(root: str | os.PathLike | None = None) -> list[Path]:
    """Run folders that hold a predictions table, newest predictions first."""
    return runs_with(ev.PREDICTIONS_FILE, root=root)


def outside_models(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders of the registered outside models (``modelkit.outside``), by name."""
    from modelkit.outside.registry import list_models, models_root

    return [models_root(root) / card.name for card in list_models(root)]


def predictions_mtime(run_dir: str | os.PathLike) -> float | None:
    """The mtime of a run's predictions table; None when it has none."""
    return file_mtime(ev.predictions_path(run_dir))


# ----------------------------------------------------------------------------- predictions

@st.cache_data(show_spinner=False, max_entries=8)
def predictions(run_dir: str, mtime: float | None) -> pd.DataFrame | None:
    """The run's predictions table, all splits, checked (``modelkit.evaluate``'s
    types); None when the run has none (``mtime`` None).

    Raises:
        FileNotFoundError / ValueError: as ``modelkit.evaluate.load_predictions``.
    """
    if mtime is None:
        return None
    return ev.load_predictions(run_dir)


@st.cache_data(show_spinner="Computing per-group figures...", max_entries=8)
def evaluation(run_dir: str, mtime: float, split: str) -> ev.Evaluation:
    """Overall and per-group figures of one split, with the default bootstrap (seeded,
    so the same inputs always give the same intervals)."""
    return ev.evaluate(predictions(run_dir, mtime), split=split)


@st.cache_resource(show_spinner=False, max_entries=4)
def split_rows(run_dir: str, mtime: float, split: str) -> pd.DataFrame:
    """The rows of one split of the run's (cached) predictions, held once: each new group
    filter reads them for every head (at 500,000 rows, selecting the split took 0.4 s a
    call, 3 s a filter change). A shared object, not a copy: readers only, never write
    to it."""
    rows, _ = ev.select_split(predictions(run_dir, mtime), split)
    return rows


@st.cache_data(show_spinner=False, max_entries=64)
def confusion(run_dir: str, mtime: float, split: str, head: str, *, normalize: bool = False,
              where: Where | None = None) -> ev.Confusion:
    """A confusion matrix of one split among faces whose true labels match ``where``."""
    return ev.confusion(split_rows(run_dir, mtime, split), head, normalize=normalize,
                        where=where)


@st.cache_data(show_spinner=False, max_entries=64)
def mae_by_true_age(run_dir: str, mtime: float, split: str, *,
                    where: Where | None = None) -> pd.DataFrame:
    """Age error by true-age bin of one split among faces matching ``where``."""
    return ev.mae_by_true_age(split_rows(run_dir, mtime, split), where=where)


@st.cache_data(show_spinner=False, max_entries=64)
def worst_errors(run_dir: str, mtime: float, split: str, head: str, *,
                 where: Where | None = None, k: int = 12) -> pd.DataFrame:
    """The ``k`` worst errors of a head in one split among faces matching ``where``."""
    return ev.worst_errors(split_rows(run_dir, mtime, split), head, where, k)


# ----------------------------------------------------------------------------- images

def thumbnail(path: str | os.PathLike, size: int = THUMBNAIL_SIDE) -> np.ndarray | None:
    """A face file decoded as the model's pipeline decodes it, shrunk to fit ``size``
    pixels (aspect kept), cached by the file's mtime; None when the file is missing or
    not an image (the caller shows a caption instead of failing the page)."""
    mtime = file_mtime(path)
    if mtime is None:
        return None
    return _cached_thumbnail(str(path), mtime, size)


@st.cache_data(show_spinner=False, max_entries=512)
def _cached_thumbnail(path: str, mtime: float, size: int) -> np.ndarray | None:
    # TensorFlow (the one decoder's engine) is imported on the first thumbnail, not
    # when a page loads, so the figures above the gallery appear without waiting.
    from modelkit.data import decode

    try:
        return decode.thumbnail(path, max_side=size)
    except (OSError, ValueError):  # missing, unreadable, or decode.ImageDecodeError
        return None


# ----------------------------------------------------------------------------- models

def runs_with_model(root: str | os.PathLike | None = None) -> list[Path]:
    """Run folders that hold a trained model (model.keras), the newest model first."""
    from modelkit.runfolder import MODEL_FILE

    return runs_with(MODEL_FILE, root=root)


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def model(run_dir: str, mtime: float):
    """The run's trained model, shared by all sessions (it is only read: explaining
    does not change it); ``mtime`` (of model.keras) keys a retrained model."""
    from modelkit import saliency

    return saliency.load_run_model(run_dir)


@st.cache_data(show_spinner=False, max_entries=16)
def run_config(run_dir: str, mtime: float) -> dict:
    """The run's config.json (classes, image size); {} when it has none."""
    from modelkit import saliency

    return saliency.load_run_config(run_dir)
