"""Outside models take every path a run takes: `predict` on a dataset, on a photo and
as a background job, `evaluate --on` and `compare --on`. A FaceScope run's own
model.keras, SavedModel and TFLite export, each added as an outside model, give the
run's predictions on its test faces; the dlib networks are audited on real FairFace
faces beside a run. Slow: a tiny run trained once per session, real faces, real ONNX."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import runs
from modelkit.__main__ import main
from modelkit.prediction import PredictRequest, list_eval_sets
from modelkit.prediction.background import start_prediction
from tests.helpers.samples import FAIRFACE, UTKFACE, pasted, sample_files
from tests.helpers.tiny_run import copy_run, trained_tiny_run

pytestmark = pytest.mark.slow


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def run_dir(tmp_path_factory, root):
    return copy_run(trained_tiny_run(tmp_path_factory.getbasetemp()), root / "20260101-000000-tiny")


@pytest.fixture
def dlib(root, capsys):
    assert cli(capsys, "models", "add", "--reference", "dlib")[0] == 0
    return root / "models"


def test_a_runs_own_model_and_exports_added_as_outside_models_give_its_predictions(
        run_dir, root, tmp_path, capsys):
    config = json.loads((run_dir / "config.json").read_text())
    for fmt in ("savedmodel", "tflite"):
        assert cli(capsys, "export", "--run-dir", run_dir, "--out", tmp_path / fmt, "--format", fmt)[0] == 0
    artifacts = {"keras": run_dir / "model.keras", "savedmodel": tmp_path / "savedmodel",
                 "tflite": tmp_path / "tflite" / "model.tflite"}
    own = pd.read_parquet(run_dir / "predictions.parquet").query("split == 'test'").set_index("path")
    for fmt, artifact in artifacts.items():
        code, out, err = cli(capsys, "models", "add", f"own-{fmt}", f"--{fmt}", artifact)  # no card flags
        assert code == 0, err
        code, _, err = cli(capsys, "predict", "--run-dir", root / "models" / f"own-{fmt}",
                           "--source", "utkface", "--root", UTKFACE, "--limit", config["limit"],
                           "--name", "same-faces")
        assert code == 0, err
        got = pd.read_parquet(root / "models" / f"own-{fmt}" / "eval" / "same-faces" / "predictions.parquet")
        got = got[got["source_split"] == "test"].set_index("path").loc[own.index]
        assert len(got) == len(own) > 10
        for column in ("gender_pred", "race_pred", "age_group_pred"):
            assert (got[column] == own[column]).all(), (fmt, column)
        np.testing.assert_allclose(got["age_pred"], own["age_pred"], atol=1e-3)
        probs = [c for c in own.columns if c.startswith(("prob_gender_", "prob_race_"))]
        np.testing.assert_allclose(got[probs].to_numpy(float), own[probs].to_numpy(float), atol=1e-5)


def test_dlib_is_predicted_evaluated_and_compared_with_a_run_on_fairface(run_dir, dlib, root, capsys):
    for folder in (run_dir, dlib / "dlib-gender", dlib / "dlib-age"):
        code, out, err = cli(capsys, "predict", "--run-dir", folder, "--source", "fairface",
                             "--root", FAIRFACE, "--limit", 60)
        assert code == 0, err
    assert "the model has no gender or race head" in out  # dlib-age's, said at once

    code, out, _ = cli(capsys, "evaluate", "--run-dir", dlib / "dlib-age", "--on", "fairface",
                       "--n-boot", 20, "--json")
    overall = json.loads(out)["overall"]
    assert code == 0 and "age_mae" in overall and "age_group_accuracy" in overall
    assert not any(k.startswith(("gender", "race")) for k in overall)  # absent, not zeros

    code, out, err = cli(capsys, "compare", run_dir.name, "dlib-gender", "--on", "fairface",
                         "--n-boot", 50, "--json")
    assert code == 0, err
    result = json.loads(out)
    (pair,) = result["runs"]
    assert pair["id"] == "dlib-gender" and pair["n_shared"] == 60
    assert any("no race head" in n for n in pair["notes"])
    assert any(n.startswith("age:") for n in pair["left_out"])
    overall = result["overall"]["dlib-gender"]
    assert {m.split("_")[0] for m in overall} == {"gender"}
    assert overall["gender_accuracy"]["n"] == 60 and overall["gender_accuracy"]["ci"]
    # The race groups hold every face: dlib-gender's FairFace labels folded as the run's.
    by_race = result["by_group"]["dlib-gender"]["race"]
    assert sum(g["gender_accuracy"]["n"] for g in by_race.values()) == 60

    code, _, err = cli(capsys, "compare", run_dir.name, "dlib-gender", "--on", "utkface")
    assert code != 0 and "has no evaluation set 'utkface'" in err


def test_an_outside_model_predicts_a_photo_with_only_its_heads(dlib, tmp_path, capsys):
    photo = tmp_path / "group.jpg"
    Image.fromarray(pasted(sample_files(FAIRFACE, 2, seed=1))).save(photo, quality=95)
    code, out, err = cli(capsys, "predict", "--run-dir", dlib / "dlib-gender", "--image", photo, "--json")
    assert code == 0, err
    faces = json.loads(out)["faces"]
    assert len(faces) == 2 and all(f["gender_pred"] in ("male", "female") for f in faces)
    assert all(f["race"] is None and f["age"] is None for f in faces)
    assert all(abs(sum(f["gender"].values()) - 1) < 1e-4 for f in faces)


def test_an_outside_model_predicts_as_a_background_job(dlib, root):
    request = PredictRequest(run_dir=str(dlib / "dlib-age"), source="utkface", root=str(UTKFACE),
                             limit=50)
    job = start_prediction(request, runs_root=root)
    done = runs.wait(job.id, runs_root=root, timeout=300)
    assert done.state == "finished", runs.log_tail(done.run_dir)
    (evalset,) = list_eval_sets(dlib / "dlib-age")
    assert evalset.info["n_images"] == 50 and evalset.info["model_kind"] == "outside"
