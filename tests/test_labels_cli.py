"""`python -m modelkit labels ...` and `train --corrections` on real UTKFace faces,
with a tiny model trained in the session (tests/helpers/curation_run.py)."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from modelkit.__main__ import main
from modelkit.curation import corrections as cx
from modelkit.curation import ranking
from modelkit.data import load_dataset
from tests.helpers.curation_run import copy_into, tiny_config, trained_run

pytestmark = pytest.mark.slow


@pytest.fixture
def run_dir(tmp_path_factory, tmp_path):
    return copy_into(trained_run(tmp_path_factory.getbasetemp()), tmp_path / "runs")


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_suspects_prints_the_ranked_table_as_json(run_dir, capsys):
    code, out, _ = cli(capsys, "labels", "suspects", "--run-dir", str(run_dir), "--head", "gender",
                       "--top", "5", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 5 and {r["attribute"] for r in rows} == {"gender"}
    assert [r["score"] for r in rows] == sorted(r["score"] for r in rows)
    assert {"path", "given", "suggested", "confidence", "score", "is_issue"} <= set(rows[0])
    table = pd.read_parquet(run_dir / ranking.SUSPECTS_FILE)
    assert rows[0]["path"] == table[table["attribute"] == "gender"].iloc[0]["path"]


def test_suspects_ranks_a_run_not_ranked_yet(run_dir, capsys):
    (run_dir / ranking.SUSPECTS_FILE).unlink()
    code, out, err = cli(capsys, "labels", "suspects", "--run-dir", str(run_dir), "--head", "age",
                         "--top", "3")
    assert code == 0 and "ranking" in err
    assert out.count("\n") == 4 and "attribute" in out.splitlines()[0]  # header + 3 rows
    table = ranking.read_suspects(run_dir)
    assert set(table["attribute"]) == {"gender", "race", "age"}
    # Every labelled face of every split is ranked: train, val and test.
    assert set(table["split"]) == {"train", "val", "test"}
    assert table.groupby("attribute").size().min() >= 390


def test_review_records_decisions_and_undo_withdraws_them(run_dir, capsys, tmp_path):
    table = ranking.read_suspects(run_dir)
    path = table.iloc[0]["path"]
    code, out, _ = cli(capsys, "labels", "review", "--run-dir", str(run_dir), "--path", path,
                       "--attribute", "race", "--set", "Indian", "--note", "looks Indian", "--json")
    assert code == 0
    written = json.loads(out)
    file = cx.config_corrections_path(ranking.run_config(run_dir))
    assert written["file"] == str(file) and file.parent == tmp_path / "runs" / "corrections"
    assert written["value"] == "Indian" and written["given"] == table.iloc[0]["race"]
    code, out, _ = cli(capsys, "labels", "decisions", "--run-dir", str(run_dir), "--json")
    listed = json.loads(out)
    assert [(d["attribute"], d["action"], d["value"]) for d in listed["decisions"]] == [
        ("race", "set", "Indian")]
    cli(capsys, "labels", "review", "--run-dir", str(run_dir), "--path", path, "--attribute", "race",
        "--undo")
    code, out, _ = cli(capsys, "labels", "decisions", "--run-dir", str(run_dir), "--json")
    assert json.loads(out)["decisions"] == []
    assert len(file.read_text().splitlines()) == 2  # the undo is a row too


@pytest.mark.parametrize("argv, message", [
    (["--attribute", "race", "--set", "Martian"], "White, Black, Asian, Indian, Others"),
    (["--attribute", "age", "--set", "200"], "0 to 100"),
])
def test_review_refuses_a_value_outside_the_vocabulary(run_dir, capsys, argv, message):
    path = ranking.read_suspects(run_dir).iloc[0]["path"]
    code, _, err = cli(capsys, "labels", "review", "--run-dir", str(run_dir), "--path", path, *argv)
    assert code == 2 and message in err


def test_review_refuses_an_image_not_in_the_dataset(run_dir, capsys):
    code, _, err = cli(capsys, "labels", "review", "--run-dir", str(run_dir), "--path", "nope.jpg",
                       "--attribute", "gender", "--keep")
    assert code == 2 and "no image 'nope.jpg'" in err


def test_review_by_source_and_root_writes_the_same_file(run_dir, capsys):
    config = ranking.run_config(run_dir)
    path = ranking.read_suspects(run_dir).iloc[0]["path"]
    code, out, _ = cli(capsys, "labels", "review", "--source", "utkface", "--root", config["root"],
                       "--path", path, "--attribute", "gender", "--exclude", "--json")
    assert code == 0 and json.loads(out)["file"] == str(cx.config_corrections_path(config))


def test_train_with_corrections_relabels_drops_and_records_the_hash(tmp_path, capsys):
    dataset = load_dataset("utkface", root=tiny_config().root, limit=tiny_config().limit)
    test = dataset.manifest[dataset.manifest["split"] == "test"]
    relabel, drop = test.iloc[0], test.iloc[1]
    new_gender = "male" if relabel.gender == "female" else "female"
    file = tmp_path / "decisions.jsonl"
    common = {"race_classes": dataset.race_classes, "root": dataset.root}
    cx.record_decision(file, path=relabel.path, attribute="gender", action="set", value=new_gender,
                       **common)
    cx.record_decision(file, path=drop.path, attribute="age", action="exclude", **common)
    cx.record_decision(file, path="gone.jpg", attribute="gender", action="keep", **common)
    run_dir = tmp_path / "run"
    config = tiny_config(epochs=1)
    config_file = tmp_path / "config.json"
    config.save(config_file)
    code, _, err = cli(capsys, "train", "--config", str(config_file), "--corrections", str(file),
                       "--run-dir", str(run_dir))
    assert code == 0, err
    assert "1 relabelled, 1 excluded" in err and "gone.jpg" in err  # listed, not fatal
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["corrections"] == str(file.resolve())
    assert saved["corrections_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert saved["corrections_applied"]["missing"] == ["gone.jpg"]
    assert saved["n_train"] + saved["n_val"] + saved["n_test"] == len(dataset.manifest) - 1
    predictions = pd.read_parquet(run_dir / "predictions.parquet").set_index("path")
    assert drop.path not in predictions.index
    assert predictions.loc[relabel.path, "gender_true"] == new_gender


def test_train_refuses_a_corrections_value_outside_the_vocabulary(tmp_path, capsys):
    dataset = load_dataset("utkface", root=tiny_config().root, limit=tiny_config().limit)
    file = tmp_path / "decisions.jsonl"
    key = cx.relative_path(dataset.manifest.iloc[0].path, root=dataset.root)
    file.write_text(json.dumps({"path": key, "attribute": "gender", "action": "set",
                                "value": "robot", "time": 0}) + "\n")
    config_file = tmp_path / "config.json"
    tiny_config(epochs=1).save(config_file)
    code, _, err = cli(capsys, "train", "--config", str(config_file), "--corrections", str(file),
                       "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "male, female" in err and key in err
