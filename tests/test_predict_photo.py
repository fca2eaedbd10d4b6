"""`python -m modelkit predict --run-dir R --image PHOTO [--json]` (modelkit/prediction/photo.py)
on photos made of real sample faces, and `--align` on `train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels
from modelkit.__main__ import main
from modelkit.config import TrainConfig
from modelkit.data import decode
from modelkit.data.faces import align as faces
from modelkit.data.faces import crops as face_crops
from modelkit.data.manifest import Dataset, assign_splits, build_manifest
from modelkit.model import build_model
from tests.helpers.images import png_header_only
from tests.helpers.samples import FAIRFACE, UTKFACE, pasted, sample_files

SIZE = 32
RACES = list(labels.UTKFACE_RACES)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder with an (untrained) 32-px model and its config."""
    folder = tmp_path_factory.mktemp("run")
    build_model(backbone="small_cnn", image_size=SIZE, race_classes=RACES,
                weights="none").save(folder / "model.keras")
    (folder / "config.json").write_text(json.dumps({"source": "utkface", "image_size": SIZE,
                                                    "race_classes": RACES,
                                                    "heads": list(labels.HEADS)}))
    return folder


def photo_file(tmp_path: Path, pixels: np.ndarray, name: str = "group.jpg") -> Path:
    path = tmp_path / name
    Image.fromarray(pixels).save(path, quality=95)
    return path


def predict(capsys, *argv) -> tuple[int, str, str]:
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_one_result_per_face_with_its_box_and_the_model_s_outputs(tmp_path, capsys, run_dir):
    image = pasted(sample_files(FAIRFACE, 2, seed=1))
    photo = photo_file(tmp_path, image)
    code, out, _ = predict(capsys, "--run-dir", run_dir, "--image", photo, "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["n_faces"], result["n_usable"], result["width"], result["height"]) == (2, 2, 640, 400)
    assert [f["face"] for f in result["faces"]] == [1, 2]

    import keras
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    decoded = decode.decode_file(photo)  # the JPEG as written (no EXIF orientation)
    for face, (x, y, side) in zip(result["faces"], ((60, 100, 200), (380, 120, 180)), strict=True):
        box = face["box"]
        assert set(box) == {"x", "y", "width", "height"}
        assert x <= box["x"] + box["width"] / 2 <= x + side
        assert y <= box["y"] + box["height"] / 2 <= y + side
        assert face["usable"] and face["problem"] is None
        assert list(face["gender"]) == list(labels.GENDERS) and list(face["race"]) == RACES
        assert sum(face["gender"].values()) == pytest.approx(1, abs=1e-5)
        assert face["gender_pred"] == max(face["gender"], key=face["gender"].get)
        assert list(face["age_group_probs"]) == list(labels.AGE_GROUPS)
        assert face["age_group"] == str(labels.age_to_group([face["age"]])[0])
        # the numbers are the model's on this face's aligned crop, fed as training feeds it
        detected = faces.find_faces(decoded).faces[face["face"] - 1]
        gender, race, ages = model.predict(decode.model_inputs(detected.crop, image_size=SIZE), verbose=0)
        assert list(face["gender"].values()) == pytest.approx(gender[0].tolist(), abs=1e-5)
        assert face["age"] == pytest.approx(float(ages[0] @ np.arange(ages.shape[1])), abs=1e-3)

    code, out, _ = predict(capsys, "--run-dir", run_dir, "--image", photo)
    assert code == 0
    assert out.splitlines()[0] == f"{photo}: 2 face(s) found, 2 usable"
    assert out.splitlines()[1].startswith("  face 1 at x=") and "gender " in out


def test_a_photo_without_a_face_is_an_error_naming_it(tmp_path, capsys, run_dir):
    photo = photo_file(tmp_path, np.full((200, 300, 3), 90, np.uint8), name="wall.png")
    code, out, err = predict(capsys, "--run-dir", run_dir, "--image", photo, "--json")
    assert code == 2 and not out
    assert f"error: {photo}: no face found" in err


def test_a_face_too_small_is_listed_with_the_reason_and_no_prediction(tmp_path, capsys, run_dir):
    image = pasted(sample_files(UTKFACE, 1, seed=4), canvas=(240, 160), places=((100, 60, 32),))
    code, out, _ = predict(capsys, "--run-dir", run_dir, "--image", photo_file(tmp_path, image, "far.png"),
                           "--json")
    assert code == 1
    (face,) = json.loads(out)["faces"]
    assert not face["usable"] and "MIN_FACE_SIDE = 32 px" in face["problem"]
    assert "gender" not in face and "age" not in face


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: (d / "bomb.png").write_bytes(png_header_only(7_000, 7_000)) and d / "bomb.png",
     "7000x7000 pixels is too large"),
    (lambda d: (d / "notes.png").write_bytes(b"not an image") and d / "notes.png",
     "notes.png: not a readable image"),
    (lambda d: d / "missing.jpg", "no image file at"),
], ids=["pixel-bomb", "not-an-image", "missing"])
def test_bad_photos_are_refused_before_detection(tmp_path, capsys, run_dir, make, message):
    code, _, err = predict(capsys, "--run-dir", run_dir, "--image", make(tmp_path))
    assert code == 2 and message in err


def test_a_run_without_a_model_and_mixed_flags_are_refused(tmp_path, capsys, run_dir):
    photo = photo_file(tmp_path, pasted(sample_files(FAIRFACE, 1, seed=1)))
    empty = tmp_path / "unfinished"
    empty.mkdir()
    code, _, err = predict(capsys, "--run-dir", empty, "--image", photo)
    assert code == 2 and "has no model.keras" in err
    code, _, err = predict(capsys, "--run-dir", run_dir, "--image", photo, "--source", "fairface")
    assert code == 2 and "leave out --source" in err


def test_train_align_is_a_checked_setting_and_a_flag():
    from modelkit.cli.train import add_train_arguments, config_from_args

    with pytest.raises(ValueError, match="align must be true or false; got 'yes'"):
        TrainConfig(align="yes")
    import argparse
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert config_from_args(parser.parse_args(["--align"])).align is True
    assert config_from_args(parser.parse_args([])).align is False
    assert TrainConfig.from_dict(TrainConfig(align=True).to_dict()).align is True


def test_training_with_align_reads_aligned_crops_and_skips_images_without_a_face(tmp_path):
    from modelkit.training.prepare import prepare_data

    files = sample_files(FAIRFACE, 9, seed=11)
    wall = tmp_path / "wall.png"
    Image.new("RGB", (224, 224), (200, 190, 180)).save(wall)
    rows = pd.DataFrame({"path": [*map(str, files), str(wall)], "age": np.nan,
                         "age_group": ["20-29"] * 10, "gender": ["male", "female"] * 5,
                         "race": ["White"] * 10})
    manifest = assign_splits(build_manifest(rows, race_classes=("White", "Black")), seed=0)
    data = prepare_data(TrainConfig(source="csv", align=True, image_size=SIZE, batch_size=4,
                                    cache=False, augment=False),
                        dataset=Dataset(manifest=manifest, source="csv", root=str(tmp_path)))
    assert any(s.path == str(wall) and "no face found" in s.reason for s in data.dataset.skipped)
    used = pd.concat(data.parts.values())
    assert str(wall) not in set(used["original_path"]) and len(used) >= 8
    crops = Path(face_crops.CROPS_DIR)
    assert all(Path(p).parent.parts[-2:] == crops.parts for p in used["path"])
    images, _ = next(iter(data.train))
    assert images.shape[1:] == (SIZE, SIZE, 3)


def test_predicting_a_set_with_align_predicts_the_aligned_crops(tmp_path, run_dir):
    """`predict --source fairface --align`: the rows are the FairFace images' aligned
    crops (their source files kept), the image without a face is skipped with its reason."""
    from modelkit.data import load_dataset
    from modelkit.prediction import PredictRequest
    from modelkit.prediction.dataset import predict_dataset

    data = load_dataset("fairface", root=FAIRFACE, limit=6, seed=2)
    wall = tmp_path / "wall.png"
    Image.new("RGB", (224, 224), (200, 190, 180)).save(wall)
    extra = data.manifest.iloc[:1].assign(path=str(wall))
    data = Dataset(manifest=pd.concat([data.manifest, extra], ignore_index=True),
                   source="fairface", root=str(FAIRFACE))
    copy = tmp_path / "run"  # the evaluation set is written into the run: a copy of it
    copy.mkdir()
    for name in ("model.keras", "config.json"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    result = predict_dataset(PredictRequest(run_dir=str(copy), source="fairface", align=True),
                             dataset=data)
    assert result.path.name == "fairface-aligned" and result.info["align"] is True
    assert any(s["path"] == str(wall) and "no face found" in s["reason"]
               for s in result.info["skipped"])
    rows = result.predictions
    assert 4 <= len(rows) <= 6
    assert all(Path(p).parent.parts[-2:] == Path(face_crops.CROPS_DIR).parts for p in rows["path"])


def test_the_train_form_hands_align_to_the_run(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import train_view
    from modelkit import paths

    started = []
    monkeypatch.setattr(train_view, "start", lambda config: started.append(config))
    at = AppTest.from_file(str(paths.REPO_ROOT / "pages" / "train.py"), default_timeout=60).run()
    assert at.checkbox(key="train_align").value is TrainConfig().align is False
    at.checkbox(key="train_align").check()
    at.button(key="train_start").click().run()
    assert not at.exception and [c.align for c in started] == [True]
