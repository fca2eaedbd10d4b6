"""Occlusion maps (modelkit.saliency.occlusion), the saliency of models without
gradients: bright exactly where covering the face changes the score, and the
`saliency` command drawing one for an outside model (refusing gradient methods)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modelkit.__main__ import main
from modelkit.saliency.occlusion import occlusion_maps


def top_left_brightness(faces: np.ndarray) -> np.ndarray:
    """A 'model' that reads only the top-left 8x8 corner of a 32 px face."""
    return faces[:, :8, :8].reshape(len(faces), -1).mean(axis=1) / 255.0


def test_the_map_is_bright_where_covering_changes_the_score_and_dark_elsewhere():
    faces = np.full((2, 32, 32, 3), 250, dtype=np.uint8)
    (first, second) = occlusion_maps(top_left_brightness, faces, patch=4, stride=4)
    assert first.shape == (32, 32) and np.allclose(first, second)
    assert first[:8, :8].min() == pytest.approx(1.0) and first[8:, :].max() == 0 and first[:, 8:].max() == 0


def test_a_score_the_face_does_not_move_gives_a_dark_map_not_noise():
    faces = np.random.default_rng(0).integers(0, 256, (1, 24, 24, 3), dtype=np.uint8)
    (heat,) = occlusion_maps(lambda f: np.ones(len(f)), faces)
    assert heat.max() == 0


def test_bad_faces_are_refused_naming_the_shape():
    with pytest.raises(ValueError, match="shaped"):
        occlusion_maps(top_left_brightness, np.zeros((32, 32, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        occlusion_maps(top_left_brightness, np.zeros((1, 8, 8, 3), dtype=np.uint8), patch=12)


def test_the_saliency_command_draws_occlusion_for_an_outside_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(tmp_path / "runs"))
    assert main(["models", "add", "bright", "--adapter", "tests.helpers.adapters:brightness_gender",
                 "--gender", "gender:male,female", "--input-size", "32", "32"]) == 0
    face = tmp_path / "face.png"
    pixels = np.zeros((48, 48, 3), dtype=np.uint8)
    pixels[:, :24] = 240  # bright left half: covering it changes the brightness 'model'
    Image.fromarray(pixels).save(face)
    folder = tmp_path / "runs" / "models" / "bright"
    assert main(["saliency", "--run-dir", str(folder), "--image", str(face), "--head", "gender",
                 "--class", "male", "--out", str(tmp_path / "map.png")]) == 0
    assert "occlusion of the gender head, explaining 'male'" in capsys.readouterr().out
    assert Image.open(tmp_path / "map.png").size == (48, 48)
    assert main(["saliency", "--run-dir", str(folder), "--image", str(face), "--head", "gender",
                 "--method", "gradcam", "--out", str(tmp_path / "g.png")]) != 0
    assert "no gradients" in capsys.readouterr().err
    assert main(["saliency", "--run-dir", str(folder), "--image", str(face), "--head", "race",
                 "--out", str(tmp_path / "r.png")]) != 0
    assert "has no race head" in capsys.readouterr().err
