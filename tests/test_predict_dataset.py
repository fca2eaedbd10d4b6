"""`predict` on another dataset and `evaluate --on`, with a tiny model trained here on
real UTKFace faces and real FairFace faces from ../shared/data (slow: it trains once
per session, about half a minute)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from modelkit import labels
from modelkit.__main__ import main
from modelkit.data import decode, load_dataset
from modelkit.models.run_model import load_run_model
from tests.helpers.images import png_header_only
from tests.helpers.samples import FAIRFACE, UTKFACE
from tests.helpers.tiny_run import IMAGE_SIZE, copy_run, trained_tiny_run

pytestmark = pytest.mark.slow

# The table, independently of modelkit.labels.
FAIRFACE_TO_UTKFACE = {"White": "White", "Black": "Black", "East Asian": "Asian",
                       "Southeast Asian": "Asian", "Indian": "Indian",
                       "Middle Eastern": "Others", "Latino_Hispanic": "Others"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture
def run_dir(trained, tmp_path):
    return copy_run(trained, tmp_path / "run")


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def fairface_rows() -> pd.DataFrame:
    return pd.concat([pd.read_csv(FAIRFACE / "fairface_label_train.csv"),
                      pd.read_csv(FAIRFACE / "fairface_label_val.csv")], ignore_index=True)


def test_predict_on_fairface_writes_the_contract_and_maps_the_races(run_dir, capsys):
    code, out, err = cli(capsys, "predict", "--run-dir", str(run_dir), "--source", "fairface",
                         "--root", str(FAIRFACE), "--limit", "150", "--json")
    assert code == 0, err
    assert "predicting [" in err and "150/150 images" in err  # the progress bar, on stderr
    info = json.loads(out)
    folder = run_dir / "eval" / "fairface"
    assert info["eval_dir"] == str(folder) and info["n_images"] == 150 and info["n_skipped"] == 0
    assert json.loads((folder / "eval.json").read_text())["race_mapping"]["table"] == FAIRFACE_TO_UTKFACE
    frame = pd.read_parquet(folder / "predictions.parquet")
    own = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(own.columns) <= set(frame.columns)  # the run's own contract, plus two columns
    assert set(frame.columns) - set(own.columns) == {"source_split", "race_source_true"}
    assert (frame["split"] == "test").all() and set(frame["source_split"]) <= {"train", "val"}
    # Each row's labels are the CSV's, the race folded by the table.
    csv = fairface_rows().assign(path=lambda t: [str(FAIRFACE / f) for f in t["file"]]).set_index("path")
    truth = csv.loc[frame["path"]]
    assert frame["race_source_true"].tolist() == truth["race"].tolist()
    assert frame["race_true"].tolist() == truth["race"].map(FAIRFACE_TO_UTKFACE).tolist()
    assert frame["gender_true"].tolist() == truth["gender"].str.lower().tolist()
    assert frame["age_true_is_midpoint"].all()
    # The probabilities are the model's on the pipeline's pixels for those files.
    model = load_run_model(run_dir)
    gender, race, _ = model.predict(decode.load_model_inputs(frame["path"][:8].tolist(),
                                                             image_size=IMAGE_SIZE), verbose=0)
    np.testing.assert_allclose(frame[["prob_gender_male", "prob_gender_female"]][:8], gender, atol=1e-5)
    np.testing.assert_allclose(frame[[f"prob_race_{c}" for c in ("White", "Black", "Asian", "Indian",
                                                                   "Others")]][:8], race, atol=1e-5)


def test_evaluate_on_reports_mapped_race_and_the_sets_own_groups(run_dir, capsys):
    assert cli(capsys, "predict", "--run-dir", str(run_dir), "--source", "fairface", "--root",
               str(FAIRFACE), "--limit", "200", "--name", "ff200")[0] == 0
    code, out, err = cli(capsys, "evaluate", "--run-dir", str(run_dir), "--on", "ff200", "--json",
                         "--n-boot", "50")
    assert code == 0, err
    payload = json.loads(out)
    frame = pd.read_parquet(run_dir / "eval" / "ff200" / "predictions.parquet")
    right = frame["gender_pred"] == frame["gender_true"]
    assert payload["on"] == "ff200" and payload["evaluation_set"]["source"] == "fairface"
    assert payload["overall"]["gender_accuracy"] == pytest.approx(right.mean())
    assert payload["overall"]["race_accuracy"] == pytest.approx(
        (frame["race_pred"] == frame["race_true"]).mean())
    assert payload["overall"]["age_group_accuracy"] == pytest.approx(
        (frame["age_group_pred"] == frame["age_group_true"]).mean())
    assert payload["age_mae_vs_midpoint"] is True and "race_balanced_accuracy" in payload["overall"]
    by_own = payload["by_group"]["race_source"]
    expected = right.groupby(frame["race_source_true"]).mean()
    for race, value in expected.items():
        low, high = by_own[race]["ci"]["gender_accuracy"]
        assert by_own[race]["gender_accuracy"] == pytest.approx(value) and low <= value <= high
    assert set(by_own) == set(frame["race_source_true"])
    # Without --on: the run's own split, as before.
    code, out, _ = cli(capsys, "evaluate", "--run-dir", str(run_dir), "--json", "--n-boot", "0")
    assert code == 0 and "on" not in json.loads(out) and "race_source" not in json.loads(out)["by_group"]


def utkface_csv(tmp_path, *, race: str | None = None, n: int = 40) -> str:
    """A generic CSV of real UTKFace faces: path, age, gender (labels from the names),
    plus a race column of ``race`` when given. Faces aged over ``labels.MAX_AGE`` are
    left out: a CSV row outside the age range is refused."""
    names = [f for f in sorted(os.listdir(UTKFACE)) if int(f.split("_")[0]) <= labels.MAX_AGE][:n]
    rows = pd.DataFrame({"path": [str(UTKFACE / f) for f in names],
                         "age": [int(f.split("_")[0]) for f in names],
                         "gender": [("male", "female")[int(f.split("_")[1])] for f in names]})
    if race is not None:
        rows["race"] = race
    csv = tmp_path / "faces.csv"
    rows.to_csv(csv, index=False)
    return str(csv)


def test_a_set_without_race_gives_no_race_figures(run_dir, tmp_path, capsys):
    csv = utkface_csv(tmp_path)
    assert cli(capsys, "predict", "--run-dir", str(run_dir), "--source", "csv", "--labels", csv,
               "--name", "norace")[0] == 0
    code, out, _ = cli(capsys, "evaluate", "--run-dir", str(run_dir), "--on", "norace", "--json",
                       "--n-boot", "0")
    payload = json.loads(out)
    assert code == 0 and payload["evaluation_set"]["race_mapping"]["kind"] == "none"
    assert not [k for k in payload["overall"] if k.startswith("race_")]
    assert "race" not in payload["confusion"] and "race" not in payload["by_group"]
    assert payload["overall"]["gender_accuracy"] is not None and payload["age_mae_vs_midpoint"] is False


def test_an_unmappable_race_is_refused_naming_it(run_dir, tmp_path, capsys):
    csv = utkface_csv(tmp_path, race="Martian", n=5)
    code, _, err = cli(capsys, "predict", "--run-dir", str(run_dir), "--source", "csv",
                       "--labels", csv, "--name", "mars")
    assert code == 2 and "'Martian'" in err and "modelkit.labels.RACE_MAPPINGS" in err
    assert not (run_dir / "eval" / "mars").exists()


def test_bad_images_are_skipped_with_the_readers_reasons(run_dir, tmp_path, capsys):
    faces = sorted(os.listdir(FAIRFACE / "val"))[:6]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((FAIRFACE / "val" / faces[0]).read_bytes()[:300])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(9_000, 9_000))
    files = [str(FAIRFACE / "val" / f) for f in faces] + [str(empty), str(truncated), str(bomb)]
    pd.DataFrame({"file": files, "age": "20-29", "gender": "Male", "race": "Indian",
                  "service_test": True}).to_csv(tmp_path / "fairface_label_val.csv", index=False)
    code, out, err = cli(capsys, "predict", "--run-dir", str(run_dir), "--source", "fairface",
                         "--root", str(tmp_path), "--json")
    assert code == 0, err
    info = json.loads(out)
    expected = load_dataset("fairface", root=tmp_path).skipped  # what the reader says
    assert info["skipped"] == [s.to_dict() for s in expected] and info["n_skipped"] == 3
    assert info["n_images"] == 6
    reasons = {s["path"]: s["reason"] for s in info["skipped"]}
    assert "over the limit of 40,000,000 pixels" in reasons[str(bomb)]
