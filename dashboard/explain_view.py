"""The Explain page's pieces: run listing, cached model and maps, face pickers, panels.

The maps come from ``modelkit.saliency``; this module caches them (the model per run
folder and model.keras mtime with ``st.cache_resource``, maps with ``st.cache_data``)
and draws them. Nothing here trains.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from modelkit import labels, paths, saliency, uploads

MODEL_FILE = "model.keras"
PREDICTIONS_FILE = "predictions.parquet"
HEAD_TITLES = {"gender": "Gender", "race": "Race", "age": "Age"}
ATTRIBUTE_TITLES = {"gender": "Gender", "race": "Race", "age_group": "Age group"}
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++",
                 "saliency": "Saliency (vanilla gradient)", "smoothgrad": "SmoothGrad"}
PREDICTED = "(predicted)"
ANY = "(any)"
CORRECTNESS = ("any", "right", "wrong")
SOURCES = ("Evaluation set", "Upload")
FROM_EVALUATE = "From Evaluate"
MAX_FACE_CHOICES = 300
DISPLAY_SIDE = 384  # uploads are shrunk to this before explaining (the model resizes anyway)


@dataclass
class Face:
    """The face being explained: RGB uint8 pixels, a title, and its true labels when
    it comes from the evaluation set."""

    image: np.ndarray
    title: str
    truth: dict | None = None


# ----------------------------------------------------------------------------- runs

def list_model_runs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders of the runs root holding a trained model (model.keras), newest first."""
    base = paths.runs_root(root)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / MODEL_FILE).is_file()]
    return sorted(runs, key=model_mtime, reverse=True)


def model_mtime(run_dir: str | os.PathLike) -> float:
    """The cache key part that changes when the run saves a new model."""
    return (Path(run_dir) / MODEL_FILE).stat().st_mtime


def predictions_mtime(run_dir: str | os.PathLike) -> float | None:
    path = Path(run_dir) / PREDICTIONS_FILE
    return path.stat().st_mtime if path.is_file() else None


def take_arrival() -> None:
    """Adopt a face sent by the Evaluate gallery (``st.session_state["explain_image"]``
    = {"run_dir", "path"}): select its run and show it. Consumed once, so the user's
    later choices are not overridden on every rerun."""
    arrival = st.session_state.pop("explain_image", None)
    if not arrival:
        return
    st.session_state["explain_run"] = str(Path(arrival["run_dir"]).resolve())
    st.session_state["explain_pinned"] = str(arrival["path"])
    st.session_state["explain_source"] = FROM_EVALUATE


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
    return Path(st.sidebar.selectbox("Run", options, key="explain_run",
                                     format_func=lambda p: Path(p).name))


# ----------------------------------------------------------------------------- cached loaders

@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def load_model(run_dir: str, mtime: float):
    """The run's model, shared by all sessions (``mtime`` keys a retrained model)."""
    return saliency.load_run_model(run_dir)


@st.cache_data(show_spinner=False, max_entries=16)
def load_config(run_dir: str, mtime: float) -> dict:
    return saliency.load_run_config(run_dir)


@st.cache_data(show_spinner=False, max_entries=8)
def load_predictions(run_dir: str, mtime: float | None) -> pd.DataFrame | None:
    """The run's evaluation predictions, or None when it has none."""
    if mtime is None:
        return None
    return pd.read_parquet(Path(run_dir) / PREDICTIONS_FILE)


@st.cache_data(show_spinner="Computing maps...", max_entries=64)
def face_maps(run_dir: str, mtime: float, image: np.ndarray, *, method: str, head: str,
              class_index: int | None) -> dict:
    """The three heads' maps of one face: ``head`` explains ``class_index``, the other
    heads their predicted class (or the expected age). Returns head -> Explanation."""
    model = load_model(run_dir, mtime)
    with warnings.catch_warnings():  # flat maps are shown as a warning on the page
        warnings.simplefilter("ignore", saliency.ConstantMapWarning)
        return {h: saliency.explain_detailed(model, image, head=h, method=method,
                                             class_index=class_index if h == head else None)
                for h in labels.HEADS}


@st.cache_data(show_spinner="Computing average maps...", max_entries=32)
def group_average_maps(run_dir: str, mtime: float, groups: tuple[tuple[str, tuple[str, ...]], ...],
                       *, method: str, head: str, class_index: int | None) -> list[dict]:
    """Per group (name, image paths): the mean map and the mean face, on one scale."""
    model = load_model(run_dir, mtime)
    size = saliency.image_size(model) or 128
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
    """Decode what can be decoded at the model's size; count the rest (moved or
    unreadable files are skipped, not fatal)."""
    faces, skipped = [], 0
    for path in face_paths:
        try:
            faces.append(saliency.load_images([path], size=size)[0])
        except Exception:  # noqa: BLE001 - any unreadable file is skipped the same way
            skipped += 1
    return (np.stack(faces) if faces else np.empty((0, size, size, 3), np.float32)), skipped


# ----------------------------------------------------------------------------- selection

def filter_faces(predictions: pd.DataFrame, *, split: str | None, attribute: str | None,
                 value: str | None, head: str, correctness: str) -> pd.DataFrame:
    """Rows of the predictions table in ``split`` (None: all), whose true ``attribute``
    is ``value`` (None: any), and whose ``head`` prediction is right/wrong ("any": all;
    right/wrong need a known true label; age is judged by its age group)."""
    rows = predictions
    if split is not None:
        rows = rows[rows["split"] == split]
    if attribute is not None and value is not None:
        rows = rows[rows[f"{attribute}_true"].astype(object) == value]
    if correctness != "any":
        column = "age_group" if head == "age" else head
        truth, guess = rows[f"{column}_true"].astype(object), rows[f"{column}_pred"].astype(object)
        right = truth.notna() & (truth == guess)
        rows = rows[right if correctness == "right" else truth.notna() & ~right]
    return rows


def sample_groups(predictions: pd.DataFrame, *, attribute: str, split: str | None,
                  n: int, seed: int = 0) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Up to ``n`` image paths per true ``attribute`` value (a seeded sample), in the
    vocabulary's order, as a hashable tuple for the cache."""
    rows = predictions if split is None else predictions[predictions["split"] == split]
    column = rows[f"{attribute}_true"].astype(object)
    order = _attribute_order(attribute, column.dropna().unique())
    groups = []
    for value in order:
        members = rows[column == value]
        picked = members.sample(n=min(n, len(members)), random_state=seed)
        groups.append((str(value), tuple(str(p) for p in picked["path"])))
    return tuple(groups)


def _attribute_order(attribute: str, present) -> list[str]:
    vocabulary = {"gender": labels.GENDERS, "age_group": labels.AGE_GROUPS}.get(attribute, ())
    known = [v for v in vocabulary if v in set(present)]
    return known + sorted(v for v in present if v not in known)


def prepare_upload(data: bytes, *, name: str) -> np.ndarray:
    """Checked decoding of an uploaded file, shrunk to at most DISPLAY_SIDE pixels.

    Raises:
        uploads.UploadError: with the message to show.
    """
    return shrink(uploads.decode_image_bytes(data, name=name))


def shrink(image: np.ndarray, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    picture = Image.fromarray(image)
    picture.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(picture)


# ----------------------------------------------------------------------------- widgets

def method_ui(config: dict) -> tuple[str, str, int | None, float]:
    """Sidebar: method, the head whose class is chosen, the class, the overlay alpha."""
    method = st.sidebar.selectbox("Method", saliency.METHODS, key="explain_method",
                                  format_func=METHOD_TITLES.get)
    head = st.sidebar.selectbox("Head", labels.HEADS, key="explain_head",
                                format_func=HEAD_TITLES.get)
    classes = saliency.class_names(config, head)
    default = "(expected age)" if head == "age" else PREDICTED
    name = st.sidebar.selectbox("Class to explain", [default, *classes],
                                key=f"explain_class_{head}")
    alpha = st.sidebar.slider("Map opacity", 0.0, 1.0, 0.45, 0.05, key="explain_alpha")
    return method, head, (None if name == default else classes.index(name)), alpha


def face_ui(predictions: pd.DataFrame | None, *, head: str) -> Face | None:
    """Where the face comes from: the evaluation set (filtered by group, split and
    whether ``head`` got it right), an upload, or the Evaluate gallery. Shows st.error
    for a file it cannot read and returns None when there is no face yet."""
    sources = list(SOURCES)
    if st.session_state.get("explain_pinned"):
        sources.insert(0, FROM_EVALUATE)
    elif st.session_state.get("explain_source") == FROM_EVALUATE:
        st.session_state["explain_source"] = SOURCES[0]
    source = st.radio("Face", sources, key="explain_source", horizontal=True)
    if source == FROM_EVALUATE:
        return _pinned_face(predictions)
    if source == "Upload":
        return _uploaded_face()
    return _evaluation_face(predictions, head=head)


def _pinned_face(predictions) -> Face | None:
    path = st.session_state["explain_pinned"]
    st.button("Choose another face", key="explain_unpin", on_click=_unpin)
    truth = None
    if predictions is not None:
        rows = predictions[predictions["path"].astype(str) == path]
        truth = _truth(rows.iloc[0]) if len(rows) else None
    return _file_face(path, truth=truth)


def _unpin() -> None:
    """Forget the face sent from Evaluate (a callback: it runs before the radio exists)."""
    st.session_state.pop("explain_pinned", None)
    st.session_state["explain_source"] = SOURCES[0]


def _uploaded_face() -> Face | None:
    upload = st.file_uploader("A face photo", type=list(uploads.ALLOWED_TYPES),
                              key="explain_upload",
                              help=f"Up to {uploads.MAX_BYTES // 2**20} MiB and "
                                   f"{uploads.MAX_PIXELS // 10**6} megapixels.")
    if upload is None:
        return None
    try:
        image = prepare_upload(upload.getvalue(), name=upload.name)
    except uploads.UploadError as exc:
        st.error(str(exc))
        return None
    return Face(image=image, title=upload.name)


def _evaluation_face(predictions, *, head: str) -> Face | None:
    if predictions is None or predictions.empty:
        st.info("This run has no evaluation predictions (predictions.parquet); "
                "upload a face instead.")
        return None
    split, attribute, value, correctness = _face_filters_ui(predictions, head=head)
    rows = filter_faces(predictions, split=split, attribute=attribute, value=value,
                        head=head, correctness=correctness)
    if rows.empty:
        st.info("No face matches these filters.")
        return None
    rows = rows.head(MAX_FACE_CHOICES)
    choice = st.selectbox(f"Face ({len(rows)} match)", list(range(len(rows))),
                          key="explain_face", format_func=lambda i: _face_label(rows.iloc[i]))
    row = rows.iloc[choice if choice is not None and choice < len(rows) else 0]
    return _file_face(str(row["path"]), truth=_truth(row))


def _face_filters_ui(predictions: pd.DataFrame, *, head: str):
    columns = st.columns(4)
    splits = [ANY, *[s for s in labels.SPLITS if s in set(predictions["split"].astype(str))]]
    split = columns[0].selectbox("Split", splits, key="explain_split")
    attribute = columns[1].selectbox("Group by", [ANY, *ATTRIBUTE_TITLES], key="explain_attr",
                                     format_func=lambda a: ATTRIBUTE_TITLES.get(a, a))
    value = None
    if attribute != ANY:
        present = predictions[f"{attribute}_true"].dropna().astype(str).unique()
        value = columns[2].selectbox("Group", _attribute_order(attribute, present),
                                     key=f"explain_value_{attribute}")
    correctness = columns[3].selectbox(f"{HEAD_TITLES[head]} prediction", CORRECTNESS,
                                       key="explain_correct")
    return (None if split == ANY else split, None if attribute == ANY else attribute,
            value, correctness)


def _truth(row) -> dict:
    return {"gender": row.get("gender_true"), "race": row.get("race_true"),
            "age": row.get("age_true"), "age_group": row.get("age_group_true")}


def _face_label(row) -> str:
    truth = " / ".join(str(row.get(f"{a}_true")) for a in ("gender", "race", "age_group")
                       if pd.notna(row.get(f"{a}_true")))
    return f"{Path(str(row['path'])).name} · true {truth or 'unknown'}"


def _file_face(path: str, *, truth: dict | None) -> Face | None:
    try:
        image = shrink(uploads.decode_image_file(path))
    except (FileNotFoundError, uploads.UploadError) as exc:
        st.error(f"Cannot show this face: {exc}")
        return None
    return Face(image=image, title=Path(path).name, truth=truth)


# ----------------------------------------------------------------------------- panels

def face_maps_ui(face: Face, *, run_dir: Path, mtime: float, config: dict, method: str,
                 head: str, class_index: int | None, alpha: float) -> None:
    """The face and its three heads' maps side by side, each with the prediction and
    its confidence (and the true label when known)."""
    results = face_maps(str(run_dir), mtime, face.image, method=method, head=head,
                        class_index=class_index)
    columns = st.columns(4)
    with columns[0]:
        st.image(face.image, caption=face.title, width="stretch")
    for column, h in zip(columns[1:], labels.HEADS):
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
    splits = [ANY, *[s for s in labels.SPLITS if s in set(predictions["split"].astype(str))]]
    split = columns[2].selectbox("Split", splits, key="explain_avg_split")
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
        for column, entry in zip(st.columns(per_row), averages[start:start + per_row]):
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
