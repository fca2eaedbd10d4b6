"""modelkit.evaluate.compare.runs and `python -m modelkit compare`: differences against an
independent recomputation (plain numpy/pandas), the paired interval against an
unpaired one, partial and no overlap, runs that cannot be compared, and runs whose
vocabularies differ."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkit import evaluate as ev
from modelkit import labels
from modelkit.__main__ import main
from modelkit.evaluate import bootstrap
from modelkit.evaluate.compare import paired
from modelkit.evaluate.compare.runs import compare
from tests.helpers.compare_runs import write_run
from tests.helpers.predictions import ROWS, expected_figures, make_predictions, random_rows, same

SINGLE = [("gender",), ("race",), ("age_group",)]


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "runs"


# ----------------------------------------------------------------------------- values

def test_values_are_those_of_evaluate_and_differences_other_minus_baseline(root):
    base = make_predictions(seed=0)
    other = make_predictions(seed=3).assign(race_pred="White", age_pred=lambda t: t["age_pred"] + 2)
    result = compare([write_run(root, "a", base), write_run(root, "b", other)], n_boot=100)
    assert result.run_ids == ["b"] and result.pair("b").n_shared == len(ROWS)
    for column, frame in (("baseline", base), ("other", other)):
        reference = ev.evaluate(frame, groupings=SINGLE, n_boot=0)
        table = pd.concat([reference.overall.assign(grouping="overall", group="all"), reference.by_group])
        merged = result.figures.merge(table, on=["grouping", "group", "metric"])
        assert len(merged) == len(result.figures[~result.figures["metric"].str.endswith(("_ece", "_brier"))])
        np.testing.assert_allclose(merged[column], merged["value"])
        assert (merged["n_x"] == merged["n_y"]).all()
    figures = result.figures
    np.testing.assert_allclose(figures["difference"], figures["other"] - figures["baseline"])
    mae = figures[(figures["grouping"] == "overall") & (figures["metric"] == "age_mae")].iloc[0]
    test_other = other[other["split"] == "test"]
    assert same(mae["other"], expected_figures(test_other, "age")["age_mae"])
    test_rows = base[base["split"] == "test"]
    white_only = expected_figures(test_rows.assign(race_pred="White"), "race")
    row = figures[(figures["grouping"] == "overall") & (figures["metric"] == "race_accuracy")].iloc[0]
    assert same(row["other"], white_only["race_accuracy"])
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]


def test_paired_interval_is_narrower_than_unpaired_on_correlated_runs(root):
    """Run B is run A (gender right about half the time) with 20 of its wrong gender
    predictions fixed: correlated errors. The paired interval of the difference must be
    far narrower than the one from resampling each run on its own, and only it
    excludes 0."""
    rows = random_rows(400, seed=1, accuracy=0.1)
    base = make_predictions(rows, [])
    wrong = np.flatnonzero((base["gender_true"] != base["gender_pred"]).to_numpy())
    assert len(wrong) >= 150
    other = base.copy()
    fixed = wrong[:20]
    other.loc[fixed, "gender_pred"] = other.loc[fixed, "gender_true"]
    result = compare([write_run(root, "a", base), write_run(root, "b", other)], n_boot=2000)
    row = result.overall.set_index("metric").loc["gender_accuracy"]
    assert math.isclose(row["difference"], 20 / 400)
    correct_a = (base["gender_true"] == base["gender_pred"]).to_numpy(float)
    correct_b = (other["gender_true"] == other["gender_pred"]).to_numpy(float)
    rng = np.random.default_rng(7)
    draws_a, draws_b = rng.integers(0, 400, (2000, 400)), rng.integers(0, 400, (2000, 400))
    unpaired = np.quantile(correct_b[draws_b].mean(1) - correct_a[draws_a].mean(1), [0.025, 0.975])
    paired_width, unpaired_width = row["ci_high"] - row["ci_low"], unpaired[1] - unpaired[0]
    assert paired_width < 0.5 * unpaired_width, (paired_width, unpaired_width)
    assert row["excludes_zero"] and row["ci_low"] > 0
    assert unpaired[0] < 0 < unpaired[1]  # independent intervals could not tell


def test_gap_change_and_its_interval(root):
    rows = random_rows(600, seed=2)
    base = make_predictions(rows, [])
    other = base.copy()
    others = (other["race_true"] == "Others").to_numpy()
    other.loc[others, "race_pred"] = "Others"  # B gets every "Others" face right
    result = compare([write_run(root, "a", base), write_run(root, "b", other)], n_boot=500)
    gap = result.gaps.set_index(["grouping", "metric"]).loc[("race", "race_accuracy")]

    def race_gap(frame):
        accuracy = (frame["race_pred"] == frame["race_true"]).groupby(frame["race_true"]).mean()
        return accuracy.max() - accuracy.min(), accuracy.idxmax(), accuracy.idxmin()
    (before, _, worst_before), (after, best_after, _) = race_gap(base), race_gap(other)
    assert math.isclose(gap["baseline_gap"], before) and math.isclose(gap["other_gap"], after)
    assert gap["baseline_worst"] == worst_before and gap["other_best"] == best_after == "Others"
    assert math.isclose(gap["difference"], after - before)
    assert gap["ci_low"] <= gap["difference"] <= gap["ci_high"]
    recall = result.overall.set_index("metric").loc["race_recall_Others"]
    assert recall["other"] == 1.0 and recall["excludes_zero"] and recall["difference"] > 0
    significant = result.significant()
    assert significant["excludes_zero"].all() and len(significant)
    sizes = significant.loc[~significant["metric"].isin(ev.LOWER_IS_BETTER), "difference"].abs()
    assert list(sizes) == sorted(sizes, reverse=True)


def test_calibration_takes_part_and_intervals_are_seeded(root):
    base, other = make_predictions(seed=0), make_predictions(seed=4)
    runs = [write_run(root, "a", base), write_run(root, "b", other)]
    first, again = compare(runs, n_boot=200, seed=3), compare(runs, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(first.figures, again.figures)
    reference = ev.evaluate(other, n_boot=0).calibration.table
    ece = first.figures[first.figures["metric"] == "race_ece"].merge(
        reference[reference["head"] == "race"], on=["grouping", "group"])
    assert len(ece) and np.allclose(ece["other"], ece["ece"])
    assert {"gender_ece", "race_brier"} <= set(first.gaps["metric"])
    assert compare(runs, n_boot=0).figures["ci_low"].isna().all()


# ----------------------------------------------------------------------------- overlap

def test_partial_overlap_compares_the_shared_images(root):
    base = make_predictions(seed=0)
    other = make_predictions(seed=5)
    shared_paths = base.loc[base["split"] == "test", "path"].iloc[:10].tolist()
    other = other[other["path"].isin(shared_paths) | (other["split"] == "val")].copy()
    extra = other.iloc[:3].assign(path=["/elsewhere/1.png", "/elsewhere/2.png", "/elsewhere/3.png"],
                                  split="test")
    other = pd.concat([other, extra], ignore_index=True)
    result = compare([write_run(root, "a", base), write_run(root, "b", other)], n_boot=50)
    info = result.pair("b")
    assert (info.n_baseline, info.n_other, info.n_shared) == (len(ROWS), 13, 10)
    assert any("compared on the 10 images both runs hold (a has 14, b has 13)" in n for n in info.notes)
    shared_base = base[base["path"].isin(shared_paths)]
    expected = expected_figures(shared_base, "age")["age_mae"]
    overall = result.overall.set_index("metric")
    assert same(overall.loc["age_mae", "baseline"], expected)


@pytest.mark.parametrize("config_b, why", [
    ({"seed": 1}, "other seed (seed 0 vs 1): the seed draws the split"),
    ({"limit": 500}, "other limit: limit None vs 500"),
    ({"source": "utkface"}, "they were trained on other data: source 'synthetic' vs 'utkface'"),
    ({}, "their data settings match, so the image paths must have changed"),
])
def test_no_shared_image_is_a_clear_error(root, capsys, config_b, why):
    base = make_predictions()
    other = base.assign(path=base["path"].str.replace("/faces/", "/other/"))
    a, b = write_run(root, "a", base), write_run(root, "b", other, config=config_b)
    with pytest.raises(ValueError) as error:
        compare([a, b], n_boot=10)
    message = str(error.value)
    assert "a and b share no test image" in message and why in message, message
    assert main(["compare", str(a), str(b), "--n-boot", "10"]) == 2
    assert why in capsys.readouterr().err


# ----------------------------------------------------------------------------- not comparable

def test_runs_that_cannot_be_compared_are_listed_with_the_reason(root):
    a = write_run(root, "a", make_predictions())
    b = write_run(root, "b", make_predictions(seed=2))
    running = write_run(root, "running", None, state="running")
    failed = write_run(root, "failed", None, state="failed")
    queued = root / "queued"
    queued.mkdir()
    (queued / "launch.json").write_text("{}")
    val_only = write_run(root, "val-only", make_predictions(rows=[]))
    result = compare([a, b, running, failed, queued, val_only], n_boot=20)
    assert result.run_ids == ["b"]
    reasons = {r["id"]: r["reason"] for r in result.not_comparable}
    assert reasons["running"].startswith("still running (epoch 2/5)")
    assert reasons["failed"] == "failed before writing predictions (boom)"
    assert reasons["queued"] == "queued: it has not started yet"
    assert reasons["val-only"] == "no test predictions (splits present: val)"
    with pytest.raises(ValueError, match="nothing to compare with the baseline a: running: still running"):
        compare([a, running])
    with pytest.raises(ValueError, match="the baseline running cannot be compared: still running"):
        compare([running, a])


def test_bad_arguments(root, capsys):
    a = write_run(root, "a", make_predictions())
    with pytest.raises(ValueError, match="two or more runs"):
        compare([a])
    with pytest.raises(ValueError, match="a given twice"):
        compare([a, str(a)])
    with pytest.raises(FileNotFoundError, match="no run 'nope'"):
        compare([a, "nope"], runs_root=root)
    with pytest.raises(ValueError, match="n_boot must be 0 or more"):
        compare([a, a], n_boot=-1)
    assert main(["compare", "a", "nope", "--runs-root", str(root)]) == 2
    assert "runs list" in capsys.readouterr().err


def test_runs_given_by_id_under_the_runs_root(root, monkeypatch):
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(root))
    write_run(root, "a", make_predictions())
    write_run(root, "b", make_predictions(seed=1))
    assert compare(["a", "b"], n_boot=10).run_ids == ["b"]


# ----------------------------------------------------------------------------- vocabularies

def test_different_race_vocabularies_compare_what_both_have(root):
    base = make_predictions()
    other = base.drop(columns=[c for c in base.columns if c.startswith("prob_race_")])
    fairface = list(labels.FAIRFACE_RACES)
    probs = np.random.default_rng(0).dirichlet(np.ones(len(fairface)), len(other))
    for j, name in enumerate(fairface):
        other[f"prob_race_{name}"] = probs[:, j]
    other["race_true"] = other["race_true"].replace({"Asian": "East Asian"})
    other["race_pred"] = other["race_pred"].replace({"Asian": "East Asian"})
    result = compare([write_run(root, "utk", base), write_run(root, "ff", other)], n_boot=50)
    metrics = set(result.figures["metric"])
    assert {"race_recall_White", "race_recall_Black"} <= metrics
    assert not metrics & {"race_accuracy", "race_balanced_accuracy", "race_macro_f1", "race_ece",
                          "race_recall_Asian", "race_recall_Others", "race_recall_East Asian"}
    assert "gender_accuracy" in metrics and "gender_ece" in metrics
    race_groups = set(result.figures.loc[result.figures["grouping"] == "race", "group"])
    assert race_groups == {"White", "Black"}  # Indian is common but no test face is Indian
    left_out = " ".join(result.pair("ff").left_out)
    assert "race: the runs' classes differ (only utk has Asian, Others; only ff has Latino_Hispanic" in left_out
    assert "compared: the recall of White, Black, Indian" in left_out
    assert any("1 shared images have other true race labels" in n for n in result.pair("ff").notes)


def test_a_head_one_run_never_predicted_is_left_out(root):
    base = make_predictions()
    other = base.assign(race_pred=None)
    result = compare([write_run(root, "a", base), write_run(root, "masked", other)], n_boot=20)
    assert not (result.figures["head"] == "race").any()
    assert "race: masked made no race predictions" in " ".join(result.pair("masked").left_out)
    assert (result.figures["grouping"] == "race").any()  # race groups still hold other heads


# ----------------------------------------------------------------------------- pieces

def test_resampled_statistics_match_numpy_on_the_drawn_rows():
    frame = make_predictions(random_rows(60, seed=3), [])
    classes = {h: ev.class_labels(frame, h) for h in ev.CLASS_HEADS}
    features = paired.run_features(frame, classes, heads=("race", "age"), calibrated=("race",))
    draws = bootstrap.resample_indices(60, n_boot=5, rng=np.random.default_rng(0))
    weights = np.stack([np.bincount(d, minlength=60) for d in draws]).astype(float)
    stats = paired.group_statistics(weights, np.arange(60), [features])[0]
    for b, rows in enumerate(draws):
        drawn = frame.iloc[rows]
        expected = expected_figures(drawn, "race") | expected_figures(drawn, "age")
        for name in ("race_accuracy", "race_balanced_accuracy", "race_macro_f1", "race_recall_Black",
                     "age_mae", "age_median_ae"):
            assert same(float(stats[name][b]), expected[name]), (name, b)


def test_the_precision_a_run_trained_in_shows_among_the_differences(root, capsys):
    # Both asked for auto; one machine resolved it to bfloat16, the other to float32.
    a = write_run(root, "a", make_predictions(), config={"precision": "auto", "precision_used": "float32"})
    b = write_run(root, "b", make_predictions(seed=2),
                  config={"precision": "auto", "precision_used": "bfloat16"})
    assert main(["compare", str(a), str(b), "--n-boot", "20"]) == 0
    assert "settings that differ: precision_used 'float32' -> 'bfloat16'" in capsys.readouterr().out


def test_cli_json_shape(root, capsys):
    a = write_run(root, "a", make_predictions())
    b = write_run(root, "b", make_predictions(seed=2), config={"balance": "race"})
    assert main(["compare", str(a), str(b), "--json", "--n-boot", "50"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["baseline"]["id"] == "a" and payload["split"] == "test"
    assert payload["runs"][0]["config_differences"] == {"balance": ["none", "race"]}
    entry = payload["overall"]["b"]["race_recall_Others"] if "race_recall_Others" in payload["overall"]["b"] \
        else payload["overall"]["b"]["race_accuracy"]
    assert set(entry) == {"n", "baseline", "other", "difference", "ci", "excludes_zero", "higher_is_better"}
    assert set(payload["by_group"]["b"]) == {"gender", "race", "age_group"}
    gap = payload["gaps"]["b"]["race"]["age_mae"]
    assert set(gap) == {"n_groups", "baseline", "other", "difference", "ci", "excludes_zero"}
    assert set(gap["baseline"]) == {"gap", "best_group", "worst_group"}
    assert main(["compare", str(a), str(b), "--n-boot", "20"]) == 0
    text = capsys.readouterr().out
    assert "settings that differ: balance 'none' -> 'race'" in text
    assert "race_balanced_accuracy" in text and "Per-group calibration error" in text


@pytest.mark.slow
def test_compare_json_on_two_real_runs_equals_an_independent_recomputation(root, capsys):
    """Two tiny runs trained for real (same seed and split, one setting changed):
    every difference `compare --json` prints equals the one recomputed here from the two
    predictions.parquet files with plain pandas."""
    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    common = dict(source="synthetic", backbone="small_cnn", limit=90, image_size=32, epochs=1, batch_size=16)
    runs = [train(TrainConfig(**common), run_dir=str(root / "base"), resume=False),
            train(TrainConfig(**common, balance="race"), run_dir=str(root / "balanced"), resume=False)]
    capsys.readouterr()  # the trainers' progress lines
    assert main(["compare", "base", "balanced", "--json", "--n-boot", "200",
                 "--runs-root", str(root)]) == 0
    payload = json.loads(capsys.readouterr().out)
    frames = [pd.read_parquet(Path(r) / ev.PREDICTIONS_FILE) for r in runs]
    tests = [f[f["split"] == "test"].set_index("path") for f in frames]
    shared = tests[0].index.intersection(tests[1].index)
    assert payload["runs"][0]["n_shared"] == len(shared) == len(tests[0]) > 0
    assert payload["runs"][0]["config_differences"] == {"balance": ["none", "race"]}
    checked = 0
    groups = [("overall", "all", slice(None))] + [
        (a, g, tests[0].loc[shared, f"{a}_true"] == g) for a in ("gender", "race", "age_group")
        for g in tests[0].loc[shared, f"{a}_true"].dropna().unique()]
    for grouping, group, where in groups:
        rows = [t.loc[shared][where] for t in tests]
        entry = payload["overall"]["balanced"] if grouping == "overall" else \
            payload["by_group"]["balanced"][grouping][group]
        for head in ("gender", "race", "age_group", "age"):
            expected = [expected_figures(r.reset_index(), head) for r in rows]
            for metric in expected[0]:
                if metric not in entry:
                    assert math.isnan(expected[0][metric]) and math.isnan(expected[1][metric]), metric
                    continue
                figure = entry[metric]
                assert same(figure["baseline"], expected[0][metric]), (grouping, group, metric)
                assert same(figure["other"], expected[1][metric]), (grouping, group, metric)
                if figure["difference"] is not None:
                    assert math.isclose(figure["difference"], expected[1][metric] - expected[0][metric],
                                        abs_tol=1e-12)
                    checked += 1
    assert checked > 100
