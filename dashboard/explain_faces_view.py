"""The Explain page's face pickers: which face is explained, and its pixels.

A face comes from the run's evaluation set (filtered by split, true group and whether
a head got it right), from the Evaluate gallery (a pinned path), or from an upload (a
photo: its faces are found, numbered and aligned by ``dashboard.explain_photo_view``).
Whatever its source, it is decoded by the one decoder (``modelkit.data.decode``):
``Face.inputs`` is exactly what the model is fed for that file in training and
evaluation, and ``Face.image`` a display-size copy of the same decode for drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import explain_photo_view as photo_view
from dashboard.titles import ATTRIBUTE_TITLES, HEAD_TITLES
from modelkit import labels, uploads
from modelkit.data import decode
from modelkit.evaluate import available_splits

PREDICTED = "(predicted)"
ANY = "(any)"
CORRECTNESS = ("any", "right", "wrong")
FACE_SOURCES = ("Evaluation set", "Upload")
FROM_EVALUATE = "From Evaluate"
MAX_FACE_CHOICES = 300
DISPLAY_SIDE = 384  # the picture drawn; the model gets its own S x S from the same decode


@dataclass
class Face:
    """The face being explained.

    Attributes:
        image: (h, w, 3) uint8, the decoded face shrunk to at most DISPLAY_SIDE (drawn).
        inputs: (1, S, S, 3) float32, the model's input for it (explained).
        title: the file name.
        truth: its true labels when it comes from the evaluation set.
    """

    image: np.ndarray
    inputs: np.ndarray
    title: str
    truth: dict | None = None


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


# ----------------------------------------------------------------------------- decoding

@st.cache_data(show_spinner=False, max_entries=32)
def file_face(path: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(display image, model input) of a dataset file, decoded as the pipeline decodes
    it. Raises FileNotFoundError / ValueError for a missing or unreadable file."""
    return _display(decode.decode_file(path)), \
        decode.decode_file(path, image_size=image_size)[None].astype(np.float32)


@st.cache_data(show_spinner=False, max_entries=8)
def upload_face(data: bytes, name: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(display image, model input) of an upload: checked, EXIF orientation applied,
    then decoded as a training file. Raises uploads.UploadError with the message to show."""
    return _display(uploads.decode_image_bytes(data, name=name)), \
        uploads.decode_image_bytes(data, name=name, image_size=image_size)[None].astype(np.float32)


def _display(image: np.ndarray) -> np.ndarray:
    return decode.display_image(image, max_side=DISPLAY_SIDE)


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


def attribute_order(attribute: str, present) -> list[str]:
    """The values of ``attribute`` present, in the vocabulary's order (others sorted after)."""
    vocabulary = {"gender": labels.GENDERS, "age_group": labels.AGE_GROUPS}.get(attribute, ())
    known = [v for v in vocabulary if v in set(present)]
    return known + sorted(v for v in present if v not in known)


def split_options(predictions: pd.DataFrame) -> list[str]:
    """ANY, then the splits the table holds."""
    return [ANY, *available_splits(predictions)]


# ----------------------------------------------------------------------------- widgets

def face_ui(predictions: pd.DataFrame | None, *, head: str, image_size: int) -> Face | None:
    """Where the face comes from: the evaluation set (filtered by group, split and
    whether ``head`` got it right), an upload, or the Evaluate gallery. Shows st.error
    for a file it cannot read and returns None when there is no face yet."""
    sources = list(FACE_SOURCES)
    if st.session_state.get("explain_pinned"):
        sources.insert(0, FROM_EVALUATE)
    elif st.session_state.get("explain_source") == FROM_EVALUATE:
        st.session_state["explain_source"] = FACE_SOURCES[0]
    source = st.radio("Face", sources, key="explain_source", horizontal=True)
    if source == FROM_EVALUATE:
        return _pinned_face(predictions, image_size=image_size)
    if source == "Upload":
        return _uploaded_face(image_size=image_size)
    return _evaluation_face(predictions, head=head, image_size=image_size)


def _pinned_face(predictions, *, image_size: int) -> Face | None:
    path = st.session_state["explain_pinned"]
    st.button("Choose another face", key="explain_unpin", on_click=_unpin)
    truth = None
    if predictions is not None:
        rows = predictions[predictions["path"].astype(str) == path]
        truth = _truth(rows.iloc[0]) if len(rows) else None
    return _file_face(path, truth=truth, image_size=image_size)


def _unpin() -> None:
    """Forget the face sent from Evaluate (a callback: it runs before the radio exists)."""
    st.session_state.pop("explain_pinned", None)
    st.session_state["explain_source"] = FACE_SOURCES[0]


def _uploaded_face(*, image_size: int) -> Face | None:
    detect = photo_view.detect_toggle_ui()
    upload = st.file_uploader("A face photo", type=list(uploads.ALLOWED_TYPES),
                              key="explain_upload",
                              help=f"Up to {uploads.MAX_BYTES // 2**20} MiB and "
                                   f"{uploads.MAX_PIXELS // 10**6} megapixels.")
    if upload is None:
        return None
    if detect:  # numbered faces on the photo; the picked one's aligned crop is explained
        picked = photo_view.photo_face_ui(upload.getvalue(), upload.name, image_size=image_size,
                                          max_side=DISPLAY_SIDE * 2)
        return None if picked is None else Face(image=picked.image, inputs=picked.inputs,
                                                title=picked.title)
    try:
        image, inputs = upload_face(upload.getvalue(), upload.name, image_size)
    except uploads.UploadError as exc:
        st.error(str(exc))
        return None
    return Face(image=image, inputs=inputs, title=upload.name)


def _evaluation_face(predictions, *, head: str, image_size: int) -> Face | None:
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
    return _file_face(str(row["path"]), truth=_truth(row), image_size=image_size)


def _face_filters_ui(predictions: pd.DataFrame, *, head: str):
    columns = st.columns(4)
    split = columns[0].selectbox("Split", split_options(predictions), key="explain_split")
    attribute = columns[1].selectbox("Group by", [ANY, *ATTRIBUTE_TITLES], key="explain_attr",
                                     format_func=lambda a: ATTRIBUTE_TITLES.get(a, a))
    value = None
    if attribute != ANY:
        present = predictions[f"{attribute}_true"].dropna().astype(str).unique()
        value = columns[2].selectbox("Group", attribute_order(attribute, present),
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


def _file_face(path: str, *, truth: dict | None, image_size: int) -> Face | None:
    try:
        image, inputs = file_face(path, image_size)
    except (OSError, ValueError) as exc:  # missing, unreadable, decode.ImageDecodeError
        st.error(f"Cannot show this face: {exc}")
        return None
    return Face(image=image, inputs=inputs, title=Path(path).name, truth=truth)
