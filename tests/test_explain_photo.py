"""The Explain page's photo upload (dashboard/explain_photo_view.py), rendered by AppTest
with real sample faces pasted on a canvas: numbered boxes, a choice of face, its maps;
a photo without a face, and one whose only face is too small, say so."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dashboard import explain_photo_view
from modelkit.data.faces import align as faces
from tests.helpers.explain_page import render, write_run
from tests.helpers.samples import FAIRFACE, UTKFACE, pasted, sample_files


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_captions(at) -> str:
    return " | ".join(c for image in at.image for c in image.captions)


def upload(runs_root, model_file, data: bytes, name: str = "group.png"):
    write_run(runs_root, model_file)
    at = render()
    at.radio(key="explain_source").set_value("Upload")
    render(at)
    at.file_uploader(key="explain_upload").upload(name, data, "image/png")
    return render(at)


def test_a_group_photo_shows_numbered_faces_and_explains_the_one_picked(
        runs_root, tiny_model_file):
    at = upload(runs_root, tiny_model_file, png(pasted(sample_files(FAIRFACE, 2, seed=1))))
    choice = at.radio(key="explain_photo_face")
    assert choice.options == ["Face 1", "Face 2"] and choice.value == 1
    assert "group.png: 2 face(s) found" in image_captions(at)
    assert len(at.image) == 1 + 4  # the photo with its boxes, then the face and 3 maps
    assert any("predicted **" in m.value for m in at.markdown)
    assert "group.png · face 1 (aligned)" in image_captions(at)
    choice.set_value(2)
    render(at)
    assert "group.png · face 2 (aligned)" in image_captions(at)
    assert len(at.image) == 5 and not at.error


def test_a_photo_without_a_face_is_shown_with_the_reason_and_no_maps(runs_root, tiny_model_file):
    at = upload(runs_root, tiny_model_file, png(np.full((240, 320, 3), (40, 160, 90), np.uint8)),
                name="wall.png")
    assert "wall.png: no face found" in at.warning[0].value
    assert len(at.image) == 1  # the photo itself, and no map
    assert not at.error


def test_a_photo_whose_face_is_too_small_says_so(runs_root, tiny_model_file):
    image = pasted(sample_files(UTKFACE, 1, seed=4), canvas=(240, 160), places=((100, 60, 32),))
    at = upload(runs_root, tiny_model_file, png(image), name="far.png")
    assert "every face found is too small" in at.warning[0].value
    assert "MIN_FACE_SIDE = 32 px" in " ".join(c.value for c in at.caption)
    assert len(at.image) == 1


def test_the_boxes_are_drawn_where_the_faces_are():
    image = pasted(sample_files(FAIRFACE, 2, seed=1))
    photo = faces.find_faces(image, name="group.png")
    drawn = explain_photo_view.draw_boxes(image, photo, picked=2, max_side=320)
    assert drawn.shape == (200, 320, 3)  # half size
    for found, colour in zip(photo.faces, (explain_photo_view.BOX_COLOUR,
                                           explain_photo_view.PICKED_COLOUR), strict=True):
        x, y, w, h = (v / 2 for v in found.face.box)
        right = drawn[int(y + h / 2), min(319, round(x + w)) - 1]  # the box's right edge
        assert tuple(right) == pytest.approx(colour, abs=1)
