"""The Explain page, rendered by AppTest for a tiny run folder built by hand
(tests/helpers/explain_page.py): an untrained 32-px small_cnn saved as model.keras
(tests/conftest.py's ``tiny_model_file``), its config.json, and a predictions table
(to the contract) pointing at real image files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.helpers.explain_page import PAGE, SIZE, render, write_run


def captions(at: AppTest) -> str:
    return " | ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_no_trained_model_says_what_to_do(runs_root):
    at = render()
    assert "No trained model yet" in at.info[0].value
    assert not at.image


def test_face_and_three_heads_maps_with_predictions(runs_root, tiny_model_file):
    write_run(runs_root, tiny_model_file)
    at = render()
    assert at.selectbox(key="explain_run").value.endswith("tiny")
    # the face and one overlay per head
    assert len(at.image) == 4
    text = captions(at)
    for head in ("predicted **", "explaining", "y** (group"):
        assert head in text
    assert "true male" in text or "true female" in text

    at.selectbox(key="explain_method").set_value("saliency")
    at.selectbox(key="explain_head").set_value("race")
    render(at)
    at.selectbox(key="explain_class_race").set_value("Asian")
    render(at)
    assert "explaining **Asian**" in captions(at)
    assert len(at.image) == 4


def test_filters_pick_faces_by_group_and_right_or_wrong(runs_root, tiny_model_file):
    write_run(runs_root, tiny_model_file, n=12)
    at = render()
    at.selectbox(key="explain_attr").set_value("gender")
    render(at)
    at.selectbox(key="explain_value_gender").set_value("female")
    at.selectbox(key="explain_correct").set_value("wrong")
    render(at)
    # women among the first third (wrong) are faces 1 and 3
    options = at.selectbox(key="explain_face").options
    assert [o.split(" ")[0] for o in options] == ["face_01.png", "face_03.png"]
    assert "true female" in captions(at)

    at.selectbox(key="explain_value_gender").set_value("male")
    at.selectbox(key="explain_split").set_value("val")
    at.selectbox(key="explain_correct").set_value("right")
    render(at)
    options = at.selectbox(key="explain_face").options
    assert [o.split(" ")[0] for o in options] == ["face_06.png"]  # val: 0, 3, 6, 9; men right: 6


def test_arrives_from_the_evaluate_gallery(runs_root, tiny_model_file):
    run = write_run(runs_root, tiny_model_file)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["explain_image"] = {"run_dir": str(run),
                                         "path": str(run / "faces" / "face_05.png")}
    render(at)
    assert at.radio(key="explain_source").value == "From Evaluate"
    assert len(at.image) == 4
    at.button(key="explain_unpin").click()
    render(at)
    assert at.radio(key="explain_source").value == "Evaluation set"
    assert "From Evaluate" not in at.radio(key="explain_source").options


def _png(size=(50, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "data", "error"), [
    ("notes.png", b"not an image", "notes.png: not a readable image"),
    ("half.png", _png()[:60], "half.png: the image data is damaged or truncated"),
    ("photo.png", None, None),
], ids=["not-an-image", "truncated", "good"])
def test_upload_shows_maps_or_a_clear_error(runs_root, tiny_model_file, name, data, error):
    write_run(runs_root, tiny_model_file)
    at = render()
    at.radio(key="explain_source").set_value("Upload")
    render(at)
    if not error:  # a flat grey picture has no face: explain it as it is
        at.toggle(key="explain_detect").set_value(False)
    at.file_uploader(key="explain_upload").upload(name, data or _png(), "image/png")
    render(at)
    if error:
        assert error in at.error[0].value
        assert not at.image
    else:
        assert not at.error
        assert len(at.image) == 4


def test_average_maps_per_group(runs_root, tiny_model_file):
    write_run(runs_root, tiny_model_file, n=12)
    at = render()
    at.selectbox(key="explain_avg_attr").set_value("gender")
    at.toggle(key="explain_avg_on").set_value(True)
    render(at)
    assert len(at.image) == 4 + 2  # the face panel, then one mean map per gender
    text = captions(at)
    assert "**male** · n=6" in text and "**female** · n=6" in text


def test_a_face_is_explained_on_the_pixels_training_sees(tmp_path):
    """The page's face (from the evaluation set or uploaded) is fed to the model as the
    pipeline feeds that file (``load_images`` is checked against the real pipeline in
    tests/test_saliency.py); the picture drawn is a display copy with its aspect."""
    from dashboard.explain_faces_view import DISPLAY_SIDE, file_face, upload_face
    from modelkit import saliency

    path = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 800, 3), dtype=np.uint8)
                    ).save(path)
    expected = saliency.load_images([path], size=SIZE)
    image, inputs = file_face(str(path), SIZE)
    np.testing.assert_array_equal(inputs, expected)
    assert image.shape == (DISPLAY_SIDE * 3 // 8, DISPLAY_SIDE, 3)
    image, inputs = upload_face(path.read_bytes(), "wide.png", SIZE)
    np.testing.assert_array_equal(inputs, expected)
    assert image.shape == (DISPLAY_SIDE * 3 // 8, DISPLAY_SIDE, 3)
