"""Label mappings between sources, evaluation sets and their evaluation, without a model:
the mapping table, folding labels or probabilities, grouping by a set's own classes,
heads without labels, requests and set names, and the scan's pixel limit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from modelkit import labels
from modelkit.__main__ import main
from modelkit.config import MAX_PIXELS
from modelkit.data.scan import scan_images
from modelkit.evaluate import evaluate
from modelkit.prediction import PredictRequest, apply_race_mapping, resolve_race_mapping
from modelkit.prediction.evalsets import find_eval_set
from tests.helpers.images import png_header_only

# The table, written out here independently of modelkit.labels.
FAIRFACE_TO_UTKFACE = {"White": "White", "Black": "Black", "East Asian": "Asian",
                       "Southeast Asian": "Asian", "Indian": "Indian",
                       "Middle Eastern": "Others", "Latino_Hispanic": "Others"}


def test_the_fairface_to_utkface_table_is_the_documented_one():
    mapping = resolve_race_mapping(source_classes=labels.FAIRFACE_RACES,
                                   model_classes=labels.UTKFACE_RACES, labelled=True)
    assert mapping.kind == "labels"
    assert mapping.table == FAIRFACE_TO_UTKFACE
    assert mapping.compared_classes == labels.UTKFACE_RACES
    assert mapping.to_json_dict()["from"] == "fairface" and mapping.to_json_dict()["to"] == "utkface"


@pytest.mark.parametrize(("source", "model", "kind", "compared"), [
    (labels.UTKFACE_RACES, labels.UTKFACE_RACES, "identity", labels.UTKFACE_RACES),
    (("White", "Black"), labels.UTKFACE_RACES, "identity", labels.UTKFACE_RACES),
    (("East Asian", "White", "Southeast Asian"), labels.UTKFACE_RACES, "labels", labels.UTKFACE_RACES),
    (labels.UTKFACE_RACES, labels.FAIRFACE_RACES, "predictions", labels.UTKFACE_RACES),
    ((), labels.UTKFACE_RACES, "none", labels.UTKFACE_RACES),
])
def test_each_kind_of_vocabulary_meeting(source, model, kind, compared):
    mapping = resolve_race_mapping(source_classes=source, model_classes=model,
                                   labelled=bool(source))
    assert mapping.kind == kind
    assert mapping.compared_classes == compared


def test_an_unknown_race_class_names_the_value_and_the_table_to_extend():
    with pytest.raises(ValueError) as error:
        resolve_race_mapping(source_classes=("Black", "Martian"),
                             model_classes=labels.UTKFACE_RACES, labelled=True, source="my.csv")
    message = str(error.value)
    assert "'Martian'" in message and "my.csv" in message
    assert "modelkit.labels.RACE_MAPPINGS" in message and "docs/CONTRACTS.md" in message


def _predictions(rows, classes) -> pd.DataFrame:
    """A predictions table (contract columns) from (gender t/p, race t/p, race probs)."""
    frame = pd.DataFrame({
        "path": [f"/x/{i}.jpg" for i in range(len(rows))], "split": "test",
        "gender_true": [r[0] for r in rows], "gender_pred": [r[1] for r in rows],
        "race_true": [r[2] for r in rows], "race_pred": [r[3] for r in rows],
        "age_group_true": "20-29", "age_group_pred": "20-29", "age_true": 24.5,
        "age_pred": 25.0, "age_true_is_midpoint": True,
    })
    for j, cls in enumerate(classes):
        frame[f"prob_race_{cls}"] = [r[4][j] for r in rows]
    return frame


def test_folding_labels_keeps_the_sets_own_classes_for_grouping():
    rows = [("male", "male", "East Asian", "Asian", (0.1, 0.1, 0.6, 0.1, 0.1)),
            ("female", "male", "Southeast Asian", "Others", (0.1, 0.1, 0.2, 0.1, 0.5)),
            ("male", "male", "Middle Eastern", "Others", (0.1, 0.1, 0.1, 0.1, 0.6)),
            ("female", "female", None, "White", (0.6, 0.1, 0.1, 0.1, 0.1))]
    mapping = resolve_race_mapping(source_classes=labels.FAIRFACE_RACES,
                                   model_classes=labels.UTKFACE_RACES, labelled=True)
    out = apply_race_mapping(_predictions(rows, labels.UTKFACE_RACES), mapping)
    def values(column):
        return [None if pd.isna(v) else v for v in out[column]]
    assert values("race_true") == ["Asian", "Asian", "Others", None]
    assert values("race_source_true") == ["East Asian", "Southeast Asian", "Middle Eastern", None]
    result = evaluate(out, n_boot=0)
    own = result.by_group[(result.by_group["grouping"] == "race_source")
                          & (result.by_group["metric"] == "race_accuracy")].set_index("group")
    # Race right when the model says Asian for an East or Southeast Asian face.
    assert own.loc["East Asian", "value"] == 1.0 and own.loc["Southeast Asian", "value"] == 0.0
    assert own.loc["Middle Eastern", "value"] == 1.0
    assert list(own.index) == ["East Asian", "Southeast Asian", "Middle Eastern"]  # FairFace order
    payload = result.to_json_dict()
    assert "race_source_x_gender" in payload["by_group"]
    assert payload["by_group"]["race_source"]["Southeast Asian"]["gender_accuracy"] == 0.0


def test_folding_probabilities_sums_the_finer_classes():
    fine = (0.05, 0.05, 0.1, 0.3, 0.25, 0.15, 0.1)  # FairFace order
    rows = [("male", "male", "Asian", "East Asian", fine)]
    mapping = resolve_race_mapping(source_classes=labels.UTKFACE_RACES,
                                   model_classes=labels.FAIRFACE_RACES, labelled=True)
    out = apply_race_mapping(_predictions(rows, labels.FAIRFACE_RACES), mapping)
    by_class = dict(zip(labels.FAIRFACE_RACES, fine, strict=True))
    assert out["prob_race_Asian"].iloc[0] == pytest.approx(by_class["East Asian"] + by_class["Southeast Asian"])
    assert out["prob_race_Others"].iloc[0] == pytest.approx(
        by_class["Latino_Hispanic"] + by_class["Middle Eastern"])
    assert out["race_pred"].iloc[0] == "Asian"  # 0.55 beats every other folded class
    assert not any(c.endswith("East Asian") for c in out.columns)


def test_a_set_without_race_labels_has_no_race_figures_at_all():
    rows = [("male", "male", None, "White", (0.6, 0.1, 0.1, 0.1, 0.1)),
            ("female", "male", None, "Black", (0.1, 0.6, 0.1, 0.1, 0.1))]
    result = evaluate(_predictions(rows, labels.UTKFACE_RACES), n_boot=0)
    payload = result.to_json_dict()
    assert not any(k.startswith("race_") for k in payload["overall"] if k != "ci")
    assert "race" not in payload["confusion"] and "race" not in payload["by_group"]
    assert all(not m.startswith("race_") for g in payload["by_group"]["gender"].values() for m in g)
    assert payload["overall"]["gender_accuracy"] == 0.5  # one of two right


def test_requests_check_their_settings():
    with pytest.raises(ValueError, match="unknown source 'fairfaces'"):
        PredictRequest(run_dir="r", source="fairfaces")
    with pytest.raises(ValueError, match="evaluation set name '../x' is not allowed"):
        PredictRequest(run_dir="r", source="fairface", name="../x")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        PredictRequest(run_dir="r", source="fairface", limit=0)
    with pytest.raises(ValueError, match="unknown predict setting"):
        PredictRequest.from_dict({"run_dir": "r", "source": "csv", "epochs": 3})
    assert PredictRequest(run_dir="r", source="fairface").set_name == "fairface"


def test_a_missing_evaluation_set_lists_the_runs_sets(tmp_path):
    run = tmp_path / "run"
    (run / "eval" / "fairface").mkdir(parents=True)
    (run / "eval" / "fairface" / "predictions.parquet").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as error:
        find_eval_set(run, "utkface")
    assert "no evaluation set 'utkface'" in str(error.value) and "sets: fairface" in str(error.value)


def test_the_scan_refuses_a_huge_image_by_its_header_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(10_000, 5_000))  # 50 MP > 40 MP
    under = tmp_path / "under.png"
    under.write_bytes(png_header_only(100, 100))
    table = scan_images([bomb, under], cache=False).table.set_index("path")
    reason = table.loc[str(bomb), "reason"]
    assert MAX_PIXELS < 10_000 * 5_000
    assert "10000x5000" in reason and f"{MAX_PIXELS:,}" in reason and "before decoding" in reason
    # The small one with the same bogus data is decoded, and so found truncated: the
    # big one was refused without its pixels ever being decoded.
    assert "truncated" in table.loc[str(under), "reason"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("state", "words"), [("running", "still training"),
                                              ("failed", "its training failed (OOM)")])
def test_a_run_without_a_model_is_refused(tmp_path, capsys, state, words):
    run = tmp_path / "unfinished"
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"state": state, "error": "OOM"}))
    code, _, err = cli(capsys, "predict", "--run-dir", str(run), "--source", "fairface",
                       "--root", "/nowhere")
    assert code == 2 and "has no model.keras" in err and words in err
    code, _, err = cli(capsys, "export", "--run-dir", str(run), "--out", str(tmp_path / "x"))
    assert code == 2 and words in err and not (tmp_path / "x").exists()


def test_predict_flags_are_checked(tmp_path, capsys):
    code, _, err = cli(capsys, "predict", "--source", "fairface")
    assert code == 2 and "predict needs --run-dir" in err
    request = tmp_path / "predict.json"
    request.write_text(json.dumps({"run_dir": "r", "source": "fairface"}))
    code, _, err = cli(capsys, "predict", "--config", str(request), "--source", "csv")
    assert code == 2 and "leave out --source" in err


def test_export_never_overwrites(tmp_path, capsys):
    run_dir = tmp_path / "run"
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", "--run-dir", str(run_dir), "--out", str(out)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
