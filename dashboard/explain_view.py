"""The Explain page's maps: run choice, method and class, the three heads' maps of a
face, and the average map per group.

The maps come from ``modelkit.saliency``; the model and the run's config and
predictions come from the shared, cached ``dashboard.loaders``; the maps themselves are
cached here (``st.cache_data``, keyed by the run's model mtime). The faces come from
``dashboard.explain_faces_view``. Nothing here trains.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import loaders
from dashboard.explain_faces_view import ANY, PREDICTED, Face, attribute_order, split_options
from dashboard.titles import ATTRIBUTE_TITLES, HEAD_TITLES, METHOD_TITLES
from modelkit import labels, saliency
from modelkit.config import SALIENCY_METHODS
from modelkit.runfolder import MODEL_FILE

FALLBACK_SIZE = 128  # a model that takes any size is fed this (none of ours does)


# ----------------------------------------------------------------------------- runs

def model_mtime(run_dir: str | os.PathLike) -> float:
    """The cache key part that changes when the run saves a new model."""
    return (Path(run_dir) / MODEL_FILE).stat().st_mtime


def run_picker_ui(runs: list[Path]) -> Path | None:
    """Sidebar run choice (a run sent from Evaluate is listed even outside the root);
    None when there is no run with a model."""
    options = [str(p.resolve()) for p in runs]
    chosen = st.session_state.get("explain_run")
    if chosen and chosen not in options and (Path(chosen) / MODEL_FILE).is_file():
        options.insert(0, chosen)
    if chosen not in options:
        st.session_state.pop("explain_run", None)
    if not options:
        return None
    return Path(st.sidebar.selectbox(
        "Run", options, key="explain_run",
        format_func=lambda p: Path(p).name + (" · outside model" if is_outside(Path(p)) else "")))


def is_outside(run_dir: Path) -> bool:
    """Whether the picked folder is an outside model (``modelkit.outside``)."""
    from modelkit.outside.card import is_outside_model

    return is_outside_model(run_dir)


def model_image_size(run_dir: Path, mtime: float) -> int:
    """The side S of the square input the run's model is fed."""
    return saliency.image_size(loaders.model(str(run_dir), mtime)) or FALLBACK_SIZE


# ----------------------------------------------------------------------------- cached maps

@st.cache_data(show_spinner="Computing maps...", max_entries=64)
def face_maps(run_dir: str, mtime: float, inputs: np.ndarray, *, method: str, head: str,
              class_index: int | None) -> dict:
    """The three heads' maps of one face's model input: ``head`` explains
    ``class_index``, the other heads their predicted class (or the expected age).
    Returns head -> Explanation."""
    model = loaders.model(run_dir, mtime)
    with warnings.catch_warnings():  # flat maps are shown as a warning on the page
        warnings.simplefilter("ignore", saliency.ConstantMapWarning)
        return {h: saliency.explain_detailed(model, inputs, head=h, method=method,
                                             class_index=class_index if h == head else None)
                for h in labels.HEADS}


@st.cache_data(show_spinner="Computing average maps...", max_entries=32)
def group_average_maps(run_dir: str, mtime: float, groups: tuple[tuple[str, tuple[str, ...]], ...],
                       *, method: str, head: str, class_index: int | None) -> list[dict]:
    """Per group (name, image paths): the mean map and the mean face, on one scale."""
    model = loaders.model(run_dir, mtime)
    size = saliency.image_size(model) or FALLBACK_SIZE
    out = []
    for name, group_paths in groups:
        faces, skipped = load_faces(group_paths, size=size)
        if not len(faces):
            out.append({"group": name, "n": 0, "skipped": skipped})
            continue
        with warnings.catch_warnings():  # counted in the caption instead
            warnings.simplefilter("ignore", saliency.ConstantMapWarning)
            result = saliency.explain_detailed(model, faces, head=head, method=method,
                                               class_index=class_index)
        out.append({"group": name, "n": len(faces), "skipped": skipped,
                    "mean_map": result.maps.mean(axis=0),
                    "mean_face": faces.mean(axis=0).astype(np.uint8),
                    "constant": int(result.constant.sum())})
    return out


def load_faces(face_paths, *, size: int) -> tuple[np.ndarray, int]:
    """The model's inputs for the files that can be decoded (as the pipeline decodes
    them); count the rest (moved or unreadable files are skipped, not fatal)."""
    faces, skipped = [], 0
    for path in face_paths:
        try:
            faces.append(saliency.load_images([path], size=size)[0])
        except (OSError, ValueError):  # missing, unreadable, decode.ImageDecodeError
            skipped += 1
    return (np.stack(faces) if faces else np.empty((0, size, size, 3), np.float32)), skipped


def sample_groups(predictions: pd.DataFrame, *, attribute: str, split: str | None,
                  n: int, seed: int = 0) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Up to ``n`` image paths per true ``attribute`` value (a seeded sample), in the
    vocabulary's order, as a hashable tuple for the cache."""
    rows = predictions if split is None else predictions[predictions["split"] == split]
    column = rows[f"{attribute}_true"].astype(object)
    groups = []
    for value in attribute_order(attribute, column.dropna().unique()):
        members = rows[column == value]
        picked = members.sample(n=min(n, len(members)), random_state=seed)
        groups.append((str(value), tuple(str(p) for p in picked["path"])))
    return tuple(groups)


# ----------------------------------------------------------------------------- widgets

def method_ui(config: dict) -> tuple[str, str, int | None, float]:
    """Sidebar: method, the head whose class is chosen, the class, the overlay alpha."""
    method = st.sidebar.selectbox("Method", SALIENCY_METHODS, key="explain_method",
                                  format_func=METHOD_TITLES.get)
    head = st.sidebar.selectbox("Head", labels.HEADS, key="explain_head",
                                format_func=HEAD_TITLES.get)
    classes = saliency.class_names(config, head)
    default = "(expected age)" if head == "age" else PREDICTED
    name = st.sidebar.selectbox("Class to explain", [default, *classes],
                                key=f"explain_class_{head}")
    alpha = st.sidebar.slider("Map opacity", 0.0, 1.0, 0.45, 0.05, key="explain_alpha")
    return method, head, (None if name == default else classes.index(name)), alpha


# ----------------------------------------------------------------------------- panels

def face_maps_ui(face: Face, *, run_dir: Path, mtime: float, config: dict, method: str,
                 head: str, class_index: int | None, alpha: float) -> None:
    """The face and its three heads' maps side by side, each with the prediction and
    its confidence (and the true label when known). The maps are computed on the
    model's input and drawn over the display copy of the same decode."""
    results = face_maps(str(run_dir), mtime, face.inputs, method=method, head=head,
                        class_index=class_index)
    columns = st.columns(4)
    with columns[0]:
        st.image(face.image, caption=face.title, width="stretch")
    for column, h in zip(columns[1:], labels.HEADS, strict=True):
        result = results[h]
        with column:
            st.image(saliency.overlay(face.image, result.maps[0], alpha=alpha),
                     width="stretch", caption=f"{HEAD_TITLES[h]} · {METHOD_TITLES[method]}")
            st.markdown(prediction_text(result, config=config, truth=face.truth))
            if result.constant[0]:
                st.warning(f"The {h} map is flat: this head's score has no gradient here "
                           "(e.g. a saturated output), so there is nothing to show.")


def prediction_text(result: saliency.Explanation, *, config: dict, truth: dict | None) -> str:
    """'predicted **female** (93%) · explaining **female** · true female' style caption."""
    head = result.head
    probs = result.probs[head][0]
    truth = truth or {}
    if head == "age":
        age = float(saliency.expected_age(probs[None])[0])
        groups = saliency.age_group_probs(probs[None])[0]
        group = int(np.argmax(groups))
        index = int(result.class_indices[0])
        text = (f"predicted **{age:.1f} y** (group {labels.AGE_GROUPS[group]}, "
                f"{groups[group]:.0%}) · explaining "
                + ("the expected age" if index < 0 else f"**{labels.AGE_GROUPS[index]}**"))
        known = (f"{float(truth['age']):.0f} y" if _present(truth.get("age"))
                 else truth.get("age_group"))
    else:
        names = saliency.class_names(config, head)
        best = int(np.argmax(probs))
        text = (f"predicted **{names[best]}** ({probs[best]:.0%}) · explaining "
                f"**{names[int(result.class_indices[0])]}**")
        known = truth.get(head)
    return text + (f" · true {known}" if _present(known) else "")


def _present(value) -> bool:
    return value is not None and not pd.isna(value)


def average_maps_ui(predictions: pd.DataFrame | None, *, run_dir: Path, mtime: float,
                    method: str, head: str, class_index: int | None, config: dict,
                    alpha: float) -> None:
    """The mean map of ``head`` per true group, on one shared scale, over the mean face."""
    if predictions is None or predictions.empty:
        st.info("Average maps need the run's evaluation predictions (predictions.parquet).")
        return
    columns = st.columns(3)
    attribute = columns[0].selectbox("Groups", list(ATTRIBUTE_TITLES), key="explain_avg_attr",
                                     format_func=ATTRIBUTE_TITLES.get)
    n = columns[1].slider("Faces per group", 2, 64, 16, key="explain_avg_n")
    split = columns[2].selectbox("Split", split_options(predictions), key="explain_avg_split")
    if not st.toggle("Compute the average maps", key="explain_avg_on"):
        st.caption("Averages run the model on up to n faces per group; switch on to compute.")
        return
    groups = sample_groups(predictions, attribute=attribute, split=None if split == ANY else split,
                           n=n)
    if not groups:
        st.info(f"No face has a known {ATTRIBUTE_TITLES[attribute].lower()}.")
        return
    averages = group_average_maps(str(run_dir), mtime, groups, method=method, head=head,
                                  class_index=class_index)
    explained = _explained_title(config, head, class_index)
    st.caption(f"Mean {METHOD_TITLES[method]} of the {head} head ({explained}) per true "
               f"{ATTRIBUTE_TITLES[attribute].lower()}; one colour scale for all groups, "
               "drawn over the group's mean face.")
    per_row = 5
    for start in range(0, len(averages), per_row):
        for column, entry in zip(st.columns(per_row), averages[start:start + per_row], strict=False):
            with column:
                if not entry["n"]:
                    st.caption(f"{entry['group']}: no readable image")
                    continue
                st.image(saliency.overlay(entry["mean_face"], entry["mean_map"], alpha=alpha),
                         width="stretch")
                note = f" · {entry['constant']} flat" if entry["constant"] else ""
                skipped = f" · {entry['skipped']} unreadable" if entry["skipped"] else ""
                st.caption(f"**{entry['group']}** · n={entry['n']}{note}{skipped}")


def _explained_title(config: dict, head: str, class_index: int | None) -> str:
    if class_index is None:
        return "the expected age" if head == "age" else "each face's predicted class"
    return f"class {saliency.class_names(config, head)[class_index]}"
