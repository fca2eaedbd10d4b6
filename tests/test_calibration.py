"""Per-group calibration (modelkit.evaluate.calibration) against figures worked out by
hand on a small table, and its place in `evaluate --json`."""

from __future__ import annotations

import json
import math

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from modelkit import evaluate as ev
from modelkit.__main__ import main
from modelkit.evaluate import calibration
from tests.helpers.predictions import make_predictions

# (true gender, predicted gender, confidence in the prediction); no value on a bin edge.
HAND = [("male", "male", 0.55), ("female", "male", 0.58), ("female", "female", 0.72),
        ("male", "male", 0.75), ("female", "male", 0.93), ("female", "female", 0.97)]
# Bins of width 0.1: [0.5, 0.6) holds 0.55 (right) and 0.58 (wrong): accuracy 0.5, mean
# confidence 0.565, gap 0.065; [0.7, 0.8): both right, 0.735, gap 0.265; [0.9, 1]:
# one right, 0.95, gap 0.45. Each bin holds 2 of 6: ECE = (0.065 + 0.265 + 0.45) / 3.
HAND_ECE = 0.26
# Brier: (0.45² + 0.58² + 0.28² + 0.25² + 0.93² + 0.03²) / 6 = 1.5456 / 6
HAND_BRIER = 0.2576


def hand_frame():
    rows = [(t, p, "White", "White", "20-29", "20-29", 25.0, 25.0) for t, p, _ in HAND]
    frame = make_predictions(rows, [])
    for i, (_, predicted, confidence) in enumerate(HAND):
        other = "female" if predicted == "male" else "male"
        frame.loc[i, f"prob_gender_{predicted}"] = confidence
        frame.loc[i, f"prob_gender_{other}"] = 1 - confidence
    return frame


def test_ece_brier_and_curve_match_the_hand_computation():
    frame = ev.check_predictions(hand_frame())
    classes = {h: ev.class_labels(frame, h) for h in ev.CLASS_HEADS}
    mask, confidence, correct = calibration.top_class(frame, "gender", classes["gender"])
    assert mask.all() and list(correct) == [True, False, True, True, False, True]
    np.testing.assert_allclose(confidence, [c for *_, c in HAND])
    assert math.isclose(calibration.expected_calibration_error(confidence, correct), HAND_ECE)
    table, curves = calibration.calibration_table(frame, classes, n_boot=0,
                                                  rng=np.random.default_rng(0), quantiles=(0.025, 0.975))
    overall = table[(table["head"] == "gender") & (table["grouping"] == "overall")].iloc[0]
    assert math.isclose(overall["ece"], HAND_ECE) and math.isclose(overall["brier"], HAND_BRIER)
    assert math.isclose(overall["brier"], brier_score_loss(correct.astype(int), confidence))
    assert overall["n"] == 6 and math.isclose(overall["accuracy"], 4 / 6)
    curve = curves[(curves["head"] == "gender") & (curves["grouping"] == "overall")]
    expected_accuracy, expected_confidence = calibration_curve(correct, confidence, n_bins=10)
    np.testing.assert_allclose(curve["accuracy"], expected_accuracy)
    np.testing.assert_allclose(curve["confidence"], expected_confidence)
    assert list(curve["bin"]) == [5, 7, 9] and list(curve["count"]) == [2, 2, 2]
    np.testing.assert_allclose(curve["accuracy"], [0.5, 1.0, 0.5])


def test_groups_intervals_and_the_worst_calibrated_group():
    frame = make_predictions()
    result = ev.evaluate(frame, n_boot=300, seed=0)
    table = result.calibration.table
    test_rows = frame[frame["split"] == "test"]
    for group, rows in test_rows.dropna(subset=["race_true"]).groupby("race_true"):
        row = table[(table["head"] == "gender") & (table["grouping"] == "race") & (table["group"] == group)]
        labelled = rows[rows["gender_true"].notna()]
        probs = labelled[["prob_gender_male", "prob_gender_female"]].to_numpy()
        right = (labelled["gender_true"] == labelled["gender_pred"]).to_numpy()
        assert row["n"].item() == len(labelled)
        assert math.isclose(row["brier"].item(), float(np.mean((right - probs.max(1)) ** 2)))
    spread = table.dropna(subset=["ece_ci_low"])
    assert len(spread) and (spread["ece_ci_low"] <= spread["ece_ci_high"]).all()
    assert table.loc[table["n"] < 2, "ece_ci_low"].isna().all()
    worst = result.calibration.worst("race")
    eligible = table[(table["head"] == "race") & (table["grouping"] != "overall") & (table["n"] >= 5)]
    assert worst["ece"] == eligible["ece"].max() and worst["n"] >= 5


def test_evaluate_json_has_calibration(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    make_predictions().to_parquet(run / ev.PREDICTIONS_FILE)
    assert main(["evaluate", "--run-dir", str(run), "--json", "--n-boot", "50"]) == 0
    payload = json.loads(capsys.readouterr().out)
    block = payload["calibration"]
    assert block["n_bins"] == 10 and set(block) >= {"gender", "race"}
    race = block["race"]
    assert race["overall"]["n"] == 12  # the race-labelled test faces
    white = race["by_group"]["race"]["White"]
    assert set(white) == {"n", "accuracy", "confidence", "ece", "ece_ci", "brier", "brier_ci", "curve"}
    assert sum(white["curve"]["count"]) == white["n"]
    assert race["worst_group"]["ece"] == max(
        e["ece"] for groups in race["by_group"].values() for e in groups.values() if e["n"] >= 5)


def test_a_table_without_probabilities_has_no_calibration_rows():
    frame = make_predictions()
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("prob_race_")])
    result = ev.evaluate(frame, n_boot=0)
    assert set(result.calibration.table["head"]) == {"gender"}
    assert result.calibration.worst("race") is None


def test_evaluate_page_shows_calibration_and_names_the_worst_group(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.helpers.evaluate_page import PAGE, write_run
    from tests.helpers.plotly_spec import array, specs

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(root))
    frame = make_predictions()
    write_run(root, "run-a", frame)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="evaluate_calibration_head").set_value("race").run()
    at.selectbox(key="evaluate_calibration_grouping").set_value("age_group").run()
    expected = ev.evaluate(frame).calibration
    worst = expected.worst("race")
    sentence = next(m.value for m in at.markdown if m.value.startswith("Worst calibrated (race head"))
    assert f"{worst['group']}**, ECE {worst['ece']:.3f}" in sentence
    figure = next(s for s in specs(at) if s["layout"].get("title", {}).get("text", "").startswith(
        "Race head by age group"))
    bars = next(t for t in figure["data"] if t["type"] == "bar")
    rows = expected.table[(expected.table["head"] == "race") & (expected.table["grouping"] == "age_group")]
    assert list(bars["x"]) == list(rows["group"])
    np.testing.assert_allclose(array(bars["y"]), rows["ece"])
