"""`export`: the SavedModel (and TFLite file) of a tiny run trained on real UTKFace
faces, served in a fresh process that never imports modelkit (and could not: no
PYTHONPATH, another working directory, ``python -I``), against the run's own model on
the same faces. Slow: trains once per session and starts TensorFlow twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from modelkit import labels
from modelkit.__main__ import main
from modelkit.data import decode
from modelkit.models.run_model import load_run_config, load_run_model
from tests.helpers.samples import FAIRFACE, UTKFACE
from tests.helpers.tiny_run import IMAGE_SIZE, copy_run, trained_tiny_run

pytestmark = pytest.mark.slow

# Runs in the fresh process: TensorFlow and numpy only.
SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
assert "modelkit" not in sys.modules
try:
    import modelkit
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("modelkit is importable from the serving process")
export, inputs, out = sys.argv[1:4]
sig = json.load(open(export + "/signature.json"))
name = sig["input"]["name"]
if sig["format"] == "savedmodel":
    serve = tf.saved_model.load(export).signatures[sig["signature"]]
    call = lambda x: {k: v.numpy() for k, v in serve(**{name: tf.constant(x)}).items()}
else:
    runner = tf.lite.Interpreter(model_path=export + "/model.tflite").get_signature_runner(sig["signature"])
    call = lambda x: runner(**{name: x})
batches = np.load(inputs)
np.savez(out, **{k + "/" + o: v for k in batches.files for o, v in call(batches[k]).items()})
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    trained = trained_tiny_run(tmp_path_factory.getbasetemp())
    return copy_run(trained, tmp_path_factory.mktemp("export") / "run")


def serve_fresh(tmp_path, export, batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "serve.py").write_text(SERVE)
    np.savez(work / "in.npz", **batches)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "serve.py", str(export), "in.npz", "out.npz"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(work / "out.npz"))


def expected(model, images: np.ndarray) -> dict[str, np.ndarray]:
    """The run's model on the same decoded faces, resized as the pipeline resizes."""
    gender, race, age = (np.asarray(p, dtype=np.float64) for p in model.predict(
        decode.model_inputs(images, image_size=IMAGE_SIZE), verbose=0))
    years = age @ np.arange(labels.MAX_AGE + 1)
    return {"gender_probs": gender, "race_probs": race, "age_years": years,
            "age_group": np.asarray(labels.age_to_group(years).codes)}


def faces(folder, n: int) -> np.ndarray:
    files = sorted(p for p in folder.rglob("*.jpg"))[:n]
    return np.stack([decode.decode_file(p) for p in files])


def test_savedmodel_serves_without_modelkit_and_equals_the_run(run_dir, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["export", "--run-dir", str(run_dir), "--out", str(out)]) == 0
    assert "wrote savedmodel" in capsys.readouterr().out
    signature = json.loads((out / "signature.json").read_text())
    assert signature["outputs"]["race_probs"]["classes"] == load_run_config(run_dir)["race_classes"]
    assert signature["outputs"]["gender_probs"]["classes"] == list(labels.GENDERS)
    assert signature["outputs"]["age_group"]["classes"] == list(labels.AGE_GROUPS)
    batches = {"utkface_200px": faces(UTKFACE, 6), "fairface_224px": faces(FAIRFACE / "val", 5)}
    batches["model_size"] = np.asarray(decode.model_inputs(batches["utkface_200px"],
                                                           image_size=IMAGE_SIZE), np.uint8)
    served = serve_fresh(tmp_path, out, batches)
    model = load_run_model(run_dir)
    for key, images in batches.items():
        assert images.dtype == np.uint8
        for name, value in expected(model, images).items():
            if name == "age_group":
                assert served[f"{key}/{name}"].tolist() == value.tolist()
            else:
                np.testing.assert_allclose(served[f"{key}/{name}"], value, atol=1e-4, err_msg=f"{key} {name}")
        np.testing.assert_allclose(served[f"{key}/age_group_probs"].sum(axis=1), 1.0, atol=1e-5)


def test_tflite_serves_at_the_model_size(run_dir, tmp_path):
    out = tmp_path / "tflite"
    assert main(["export", "--run-dir", str(run_dir), "--out", str(out), "--format", "tflite"]) == 0
    signature = json.loads((out / "signature.json").read_text())
    assert signature["input"]["shape"] == [None, IMAGE_SIZE, IMAGE_SIZE, 3]
    images = np.asarray(decode.model_inputs(faces(UTKFACE, 4), image_size=IMAGE_SIZE), np.uint8)
    served = serve_fresh(tmp_path, out, {"small": images})
    for name, value in expected(load_run_model(run_dir), images).items():
        if name != "age_group":
            np.testing.assert_allclose(served[f"small/{name}"], value, atol=1e-4, err_msg=name)

