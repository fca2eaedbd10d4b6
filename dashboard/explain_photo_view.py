"""The Explain page's photo upload: the faces found in it, numbered on the photo, and
the one picked for the maps.

An uploaded photo is checked and decoded as every upload is (``modelkit.uploads``,
EXIF orientation applied); its faces are found and aligned to the training set's
framing by ``modelkit.data.faces.align`` (cached per upload here). Each face gets a numbered
box drawn on the photo; the picked one's aligned crop is what the maps explain, fed to
the model exactly as a training image (``decode.model_inputs``). A photo without a face
says so and is shown as it is, with no maps; a face too small to use is named with the
reason. The toggle "Find and align faces" switched off explains the upload as it is
(a face already cropped like the training set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from modelkit import uploads
from modelkit.data import decode
from modelkit.data.faces import align as faces

BOX_COLOUR = (255, 196, 0)        # every face found
PICKED_COLOUR = (0, 200, 255)     # the face being explained
SMALL_COLOUR = (160, 160, 160)    # a face too small to use


@dataclass
class PickedFace:
    """The face the maps explain: its aligned crop, the model's input, its title."""

    image: np.ndarray
    inputs: np.ndarray
    title: str


@st.cache_data(show_spinner="Finding faces...", max_entries=8)
def photo_faces(data: bytes, name: str) -> tuple[np.ndarray, faces.PhotoFaces | None, str | None]:
    """(the decoded photo, its faces or None, why there are none). The "no face" answer
    is returned, not raised, so it is cached like a found face. Raises
    uploads.UploadError for a file that is not an acceptable image."""
    image = uploads.decode_image_bytes(data, name=name)
    try:
        return image, faces.find_faces(image, name=name), None
    except faces.NoFaceError as exc:
        return image, None, str(exc)


def draw_boxes(image: np.ndarray, photo: faces.PhotoFaces, *, picked: int | None,
               max_side: int) -> np.ndarray:
    """A display copy of the photo (at most ``max_side``) with each face's numbered box."""
    shown = decode.display_image(image, max_side=max_side)
    scale = shown.shape[1] / image.shape[1]
    canvas = Image.fromarray(shown)
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(shown.shape[:2]) / 250))
    font = ImageFont.load_default(size=max(12, round(max(shown.shape[:2]) / 28)))
    for found in photo.faces:
        x, y, w, h = (v * scale for v in found.face.box)
        colour = (SMALL_COLOUR if not found.usable else
                  PICKED_COLOUR if found.number == picked else BOX_COLOUR)
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        label = str(found.number)
        left, top, right, bottom = draw.textbbox((x, y), label, font=font)
        ty = max(0, y - (bottom - top) - 2 * width)
        draw.rectangle([x, ty, x + (right - left) + 2 * width, ty + (bottom - top) + 2 * width],
                       fill=colour)
        draw.text((x + width, ty + width - (top - y)), label, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def detect_toggle_ui() -> bool:
    """Whether the upload is searched for faces (on by default)."""
    return st.toggle("Find and align faces", value=True, key="explain_detect",
                     help="Off: explain the upload as it is, for a face already cropped "
                          "like the training set.")


def photo_face_ui(data: bytes, name: str, *, image_size: int, max_side: int) -> PickedFace | None:
    """The photo with its numbered faces, and a choice of face; None (with the reason on
    the page) when the upload is not usable or holds no usable face."""
    try:
        image, photo, problem = photo_faces(data, name)
    except uploads.UploadError as exc:
        st.error(str(exc))
        return None
    if photo is None:
        st.warning(f"{problem}. Nothing to explain in this photo.")
        st.image(decode.display_image(image, max_side=max_side), caption=f"{name}: no face found")
        return None
    slot = st.container()
    for found in photo.faces:
        if not found.usable:
            st.caption(f"Face {found.number}: not used: {found.problem}")
    usable = [f.number for f in photo.usable]
    if not usable:
        with slot:
            st.image(draw_boxes(image, photo, picked=None, max_side=max_side), caption=name)
        try:
            photo.require_usable()
        except faces.FaceTooSmallError as exc:
            st.warning(str(exc))
        return None
    if st.session_state.get("explain_photo_face") not in usable:
        st.session_state.pop("explain_photo_face", None)  # a new photo: start at its face 1
    number = st.radio(f"Face to explain ({len(photo.faces)} found)", usable, horizontal=True,
                      key="explain_photo_face", format_func=lambda n: f"Face {n}")
    with slot:
        st.image(draw_boxes(image, photo, picked=number, max_side=max_side),
                 caption=f"{name}: {len(photo.faces)} face(s) found, numbered left to right")
    found = next(f for f in photo.faces if f.number == number)
    inputs = decode.model_inputs(found.crop, image_size=image_size)
    return PickedFace(image=found.crop, inputs=inputs, title=f"{name} · face {number} (aligned)")
