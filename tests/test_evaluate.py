"""modelkit.evaluate and `python -m modelkit evaluate`: every figure against an
independent computation (plain numpy/pandas, tests/helpers/predictions.py) on a
small hand-made table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from modelkit import evaluate as ev
from modelkit import labels
from modelkit.__main__ import main
from modelkit.evaluate import bootstrap
from tests.helpers.predictions import RACES, ROWS, expected_figures, make_predictions, same


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    return make_predictions()


@pytest.fixture(scope="module")
def evaluation(predictions) -> ev.Evaluation:
    return ev.evaluate(predictions, n_boot=300, seed=1)


def test_overall_figures_match_an_independent_computation(predictions, evaluation):
    test_rows = predictions[predictions["split"] == "test"]
    assert evaluation.split == "test" and evaluation.n == len(ROWS)
    for head in ev.EVAL_HEADS:
        for metric, value in expected_figures(test_rows, head).items():
            assert same(evaluation.overall_value(metric), value), metric
    counts = evaluation.overall.set_index("metric")["n"]
    assert counts["gender_accuracy"] == 13  # the row without a gender label is left out
    assert counts["race_accuracy"] == 12 and counts["age_mae"] == 13


def test_every_group_figure_matches_an_independent_computation(predictions, evaluation):
    test_rows = predictions[predictions["split"] == "test"]
    checked = 0
    for grouping in ev.DEFAULT_GROUPINGS:
        key = ev.grouping_key(grouping)
        columns = [f"{a}_true" for a in grouping]
        for values, rows in test_rows.dropna(subset=columns).groupby(columns):
            group = " / ".join(values)
            table = evaluation.by_group[(evaluation.by_group["grouping"] == key)
                                        & (evaluation.by_group["group"] == group)]
            assert len(table), (key, group)
            assert set(table["n_group"]) == {len(rows)}
            for head in ev.EVAL_HEADS:
                expected = expected_figures(rows, head)
                for metric, value in dict(zip(table["metric"], table["value"], strict=True)).items():
                    if metric.startswith(head + "_") and not (head == "age" and metric.startswith("age_group")):
                        assert same(value, expected[metric]), (key, group, metric, value, expected[metric])
                        checked += 1
    assert checked == len(evaluation.by_group)  # every row of the table was checked


def test_groups_without_labels_and_one_image_groups(evaluation):
    by = evaluation.by_group.set_index(["grouping", "group", "metric"])
    no_race = by.loc[("age_group", "70+", "race_accuracy")]
    assert math.isnan(no_race["value"]) and no_race["n"] == 0 and no_race["n_group"] == 2
    assert by.loc[("age_group", "70+", "gender_accuracy"), "value"] == 0.5
    one = by.loc[("race", "Asian", "race_accuracy")]
    assert one["n"] == 1 and one["value"] == 0.0
    assert math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])  # no spread from one face
    # groups keyed by true label: no group for a missing race
    assert set(evaluation.by_group.loc[evaluation.by_group["grouping"] == "race", "group"]) == {
        "White", "Black", "Asian"}


def test_intervals_hold_the_estimate_and_are_seeded(predictions, evaluation):
    rows = evaluation.by_group[evaluation.by_group["n"] >= 2].dropna(subset=["ci_low"])
    rows = rows[rows["metric"].isin(ev.HEADLINE_METRICS)]
    assert len(rows) > 50
    assert (rows["ci_low"] <= rows["value"] + 1e-9).all() and (rows["value"] <= rows["ci_high"] + 1e-9).all()
    again = ev.evaluate(predictions, n_boot=300, seed=1)
    pd.testing.assert_frame_equal(again.by_group, evaluation.by_group)
    assert ev.evaluate(predictions, n_boot=0).by_group["ci_low"].isna().all()


def test_interval_agrees_with_a_plain_row_bootstrap():
    rng = np.random.default_rng(5)
    n = 400
    truth = rng.choice(RACES, n)
    pred = np.where(rng.random(n) < 0.7, truth, rng.choice(RACES, n))
    rows = [("male", "male", t, p, "20-29", "20-29", 25.0, 20 + 10 * rng.random())
            for t, p in zip(truth, pred, strict=True)]
    frame = make_predictions(rows, [])
    result = ev.evaluate(frame, groupings=[("race",)], n_boot=2000, seed=0)
    mine = result.by_group.set_index(["group", "metric"])
    black = frame[frame["race_true"] == "Black"]
    correct = (black["race_true"] == black["race_pred"]).to_numpy(float)
    errors = (black["age_pred"] - black["age_true"]).abs().to_numpy()
    draws = np.random.default_rng(1).integers(0, len(correct), (2000, len(correct)))
    for metric, values in (("race_accuracy", correct), ("age_mae", errors)):
        low, high = np.quantile(values[draws].mean(axis=1), [0.025, 0.975])
        spread = high - low
        assert abs(mine.loc[("Black", metric), "ci_low"] - low) < 0.1 * spread
        assert abs(mine.loc[("Black", metric), "ci_high"] - high) < 0.1 * spread


# ----------------------------------------------------------------------------- gaps

@pytest.mark.parametrize("min_n, metric, best, worst", [
    (4, "gender_accuracy", "Black", "White"),
    (5, "age_mae", "White", "Black"),
    (1, "race_accuracy", "White", "Asian"),
    (1, "age_mae", "Asian", "Black"),
])
def test_gaps_name_the_best_and_worst_group(predictions, min_n, metric, best, worst):
    result = ev.evaluate(predictions, groupings=[("race",)], n_boot=0, gap_min_n=min_n)
    test_rows = predictions[predictions["split"] == "test"]
    head = "age" if metric.startswith("age_mae") else metric.split("_")[0]
    values = {}
    for race, rows in test_rows.dropna(subset=["race_true"]).groupby("race_true"):
        labelled = rows[rows["age_true" if head == "age" else f"{head}_true"].notna()]
        if len(labelled) >= min_n:
            values[race] = expected_figures(rows, head)[metric]
    lower_is_better = metric == "age_mae"
    expected_best = (min if lower_is_better else max)(values, key=values.get)
    expected_worst = (max if lower_is_better else min)(values, key=values.get)
    assert (expected_best, expected_worst) == (best, worst)  # the table is what we think it is
    gap = result.gaps.set_index(["grouping", "metric"]).loc[("race", metric)]
    assert gap["best_group"] == best and gap["worst_group"] == worst
    assert math.isclose(gap["difference"], abs(values[best] - values[worst]))
    assert math.isclose(gap["ratio"], min(values.values()) / max(values.values()))
    assert gap["n_groups"] == len(values)


def test_small_groups_stay_out_of_the_gaps_by_default(evaluation):
    race_gaps = evaluation.gaps[evaluation.gaps["grouping"] == "race"]
    assert "Asian" not in set(race_gaps["best_group"]) | set(race_gaps["worst_group"])
    assert (race_gaps["n_best"] >= 5).all() and (race_gaps["n_worst"] >= 5).all()


# ----------------------------------------------------------------------------- confusion

def test_confusion_rows_are_true_labels_and_every_class_has_a_row_and_column(predictions):
    test_rows, _ = ev.select_split(predictions)
    result = ev.confusion(test_rows, "race")
    assert result.labels == RACES
    index = {c: i for i, c in enumerate(RACES)}
    assert result.matrix[index["Asian"], index["White"]] == 1  # the Asian face predicted White
    assert result.matrix[index["White"], index["Asian"]] == 0
    assert result.matrix[index["Indian"]].sum() == 0 and result.matrix[:, index["Indian"]].sum() == 0
    labelled = test_rows.dropna(subset=["race_true"])
    expected = pd.crosstab(labelled["race_true"], labelled["race_pred"]).reindex(
        index=RACES, columns=RACES, fill_value=0)
    np.testing.assert_array_equal(result.matrix, expected.to_numpy())


@pytest.mark.parametrize("head, where", [
    ("gender", {"race": "Black"}),
    ("age_group", {"gender": "female"}),
    ("race", {"gender": "male", "age_group": ["40-49", "70+"]}),
])
def test_confusion_filtered_by_group(predictions, head, where):
    test_rows, _ = ev.select_split(predictions)
    rows = test_rows.dropna(subset=[f"{head}_true"])
    for attribute, wanted in where.items():
        rows = rows[rows[f"{attribute}_true"].isin([wanted] if isinstance(wanted, str) else wanted)]
    classes = ev.class_labels(test_rows, head)
    expected = pd.crosstab(rows[f"{head}_true"], rows[f"{head}_pred"]).reindex(
        index=classes, columns=classes, fill_value=0).to_numpy()
    result = ev.confusion(test_rows, head, where=where)
    np.testing.assert_array_equal(result.matrix, expected)
    assert result.n == len(rows)
    shares = ev.confusion(test_rows, head, where=where, normalize=True)
    totals = expected.sum(axis=1)
    np.testing.assert_allclose(shares.matrix.sum(axis=1), np.where(totals > 0, 1.0, 0.0))
    np.testing.assert_array_equal(shares.counts, expected)


def test_confusion_rejects_an_unknown_head_or_attribute(predictions):
    with pytest.raises(ValueError, match="unknown head 'age'"):
        ev.confusion(predictions, "age")
    with pytest.raises(ValueError, match="unknown head 'ethnicity'"):
        ev.confusion(predictions, "race", where={"ethnicity": "x"})


# ----------------------------------------------------------------------------- drill-downs

def test_worst_errors_are_wrong_and_most_confident_first(predictions):
    test_rows, _ = ev.select_split(predictions)
    errors = ev.worst_errors(test_rows, "race", None, k=10)
    wrong = test_rows[test_rows["race_true"].notna() & (test_rows["race_true"] != test_rows["race_pred"])]
    confidence = [row[f"prob_race_{row['race_pred']}"] for _, row in wrong.iterrows()]
    expected = wrong.assign(c=confidence).sort_values("c", ascending=False)
    assert list(errors["path"]) == list(expected["path"])
    np.testing.assert_allclose(errors["confidence"], expected["c"])
    assert (errors["true"] != errors["pred"]).all()
    male = ev.worst_errors(test_rows, "race", {"gender": "male"}, k=1)
    assert len(male) == 1 and male["path"][0] in set(wrong.loc[wrong["gender_true"] == "male", "path"])


def test_worst_age_errors_are_largest_first(predictions):
    test_rows, _ = ev.select_split(predictions)
    errors = ev.worst_errors(test_rows, "age", {"age_group": "40-49"}, k=2)
    assert list(errors["error"]) == [8.0, 4.0]  # 47 -> 55 and 45 -> 41


def test_mae_by_true_age_matches_plain_binning(predictions):
    test_rows, _ = ev.select_split(predictions)
    table = ev.mae_by_true_age(test_rows, bin_width=10).set_index("bin")
    known = test_rows.dropna(subset=["age_true"])
    for start in range(0, 90, 10):
        rows = known[(known["age_true"] >= start) & (known["age_true"] < start + 10)]
        label = f"{start}-{start + 9}"
        if rows.empty:
            assert label not in table.index
            continue
        error = rows["age_pred"] - rows["age_true"]
        assert table.loc[label, "n"] == len(rows)
        assert math.isclose(table.loc[label, "mae"], error.abs().mean())
        assert math.isclose(table.loc[label, "bias"], error.mean())


def test_midpoint_ages_are_flagged_and_binned_by_group():
    frame = make_predictions(midpoint=True)
    result = ev.evaluate(frame, n_boot=0)
    assert result.age_mae_vs_midpoint and result.to_json_dict()["overall"]["age_mae_vs_midpoint"]
    assert set(ev.mae_by_true_age(frame)["bin"]) <= set(labels.AGE_GROUPS)
    assert not ev.evaluate(make_predictions(), n_boot=0).age_mae_vs_midpoint


# ----------------------------------------------------------------------------- splits and errors

def test_split_choice(predictions):
    assert ev.evaluate(predictions, split="val", n_boot=0).n == 2
    assert ev.evaluate(predictions[predictions["split"] == "val"], n_boot=0).split == "val"
    with pytest.raises(ValueError, match=r"no 'train' rows; splits present: \['val', 'test'\]"):
        ev.evaluate(predictions, split="train")
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        ev.evaluate(predictions, split="holdout")


def test_missing_file_or_column_is_a_clear_error(tmp_path, predictions):
    with pytest.raises(FileNotFoundError, match="predictions.parquet not found"):
        ev.load_predictions(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ev.load_predictions(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['race_pred'\]"):
        ev.evaluate(predictions.drop(columns="race_pred"))


# ----------------------------------------------------------------------------- JSON and CLI

def test_json_shape(evaluation):
    payload = evaluation.to_json_dict()
    json.dumps(payload, allow_nan=False)  # nulls, never NaN
    assert {"overall", "by_group", "confusion", "gaps"} <= set(payload)
    assert {"gender_accuracy", "race_accuracy", "age_group_accuracy", "age_mae"} <= set(payload["overall"])
    assert {"gender", "race", "age_group", "race_x_gender", "age_group_x_gender"} <= set(payload["by_group"])
    for groups in payload["by_group"].values():
        for entry in groups.values():
            assert {"n", "gender_accuracy", "race_accuracy", "age_group_accuracy", "age_mae"} <= set(entry)
    no_race = payload["by_group"]["age_group"]["70+"]
    assert no_race["n"] == 2 and no_race["race_accuracy"] is None and no_race["ci"]["race_accuracy"] is None
    assert no_race["gender_accuracy"] == 0.5
    assert payload["by_group"]["race"]["Asian"]["n"] == 1
    assert payload["by_group"]["race"]["Asian"]["ci"]["race_accuracy"] is None
    assert payload["by_group"]["race_x_gender"]["Black / male"]["n"] == 2  # the face without a gender label is not in it
    for head, classes in (("gender", labels.GENDERS), ("race", RACES), ("age_group", labels.AGE_GROUPS)):
        matrix = payload["confusion"][head]
        assert matrix["labels"] == list(classes)
        assert len(matrix["matrix"]) == len(classes) and all(len(r) == len(classes) for r in matrix["matrix"])
        assert all(isinstance(v, int) for r in matrix["matrix"] for v in r)
    gap = payload["gaps"]["race"]["age_mae"]
    assert gap["best_group"] == "White" and gap["worst_group"] == "Black"
    assert not gap["higher_is_better"] and gap["n_best"] == gap["n_worst"] == 5
    # Black has 4 gender labels: under the default minimum, so no gender gap by race
    assert "gender_accuracy" not in payload["gaps"]["race"]


def write_run(folder, frame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "predictions.parquet")
    return folder


def test_cli_json(tmp_path, capsys, predictions):
    run_dir = write_run(tmp_path / "run", predictions)
    assert main(["evaluate", "--run-dir", str(run_dir), "--json", "--n-boot", "50"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["split"] == "test" and payload["overall"]["n"] == len(ROWS)
    assert math.isclose(payload["overall"]["race_accuracy"], 8 / 12)
    assert payload["by_group"]["age_group"]["70+"]["race_accuracy"] is None
    assert main(["evaluate", "--run-dir", str(run_dir), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["n"] == 2


def test_cli_table_and_errors(tmp_path, capsys, predictions):
    run_dir = write_run(tmp_path / "run", predictions)
    assert main(["evaluate", "--run-dir", str(run_dir), "--n-boot", "0"]) == 0
    out = capsys.readouterr().out
    assert "By race x gender" in out and "Confusion race (rows true, columns predicted)" in out
    assert main(["evaluate", "--run-dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    val_only = write_run(tmp_path / "val_only", predictions[predictions["split"] == "val"])
    assert main(["evaluate", "--run-dir", str(val_only), "--split", "test"]) == 2
    assert "no 'test' rows; splits present: ['val']" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bootstrap pieces

def test_confusion_statistics_match_an_independent_computation(predictions):
    test_rows, _ = ev.select_split(predictions)
    for head in ev.CLASS_HEADS:
        classes = ev.class_labels(test_rows, head)
        counts = ev.confusion(test_rows, head).counts
        stats = bootstrap.confusion_statistics(counts)
        expected = expected_figures(test_rows, head)
        for name in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert same(float(stats[name]), expected[f"{head}_{name}"]), (head, name)
        for code, name in enumerate(classes):
            assert same(float(stats["recall"][code]), expected[f"{head}_recall_{name}"])


def test_shared_resamples_give_a_paired_interval():
    """Two runs scored on the same images: one draw of row indices serves both, so the
    interval of their difference is that of the paired differences."""
    rng = np.random.default_rng(3)
    errors_a = rng.gamma(2.0, 3.0, 300)
    errors_b = errors_a + rng.normal(0.5, 0.2, 300)  # run B: ~0.5 y worse on every image
    draws = bootstrap.resample_indices(300, n_boot=1000, rng=np.random.default_rng(0))
    assert draws.shape == (1000, 300) and draws.min() >= 0 and draws.max() < 300
    np.testing.assert_array_equal(draws, bootstrap.resample_indices(
        300, n_boot=1000, rng=np.random.default_rng(0)))  # seeded
    quantiles = bootstrap.interval_quantiles(0.95)
    paired = bootstrap.percentile_interval(errors_b[draws].mean(1) - errors_a[draws].mean(1),
                                           quantiles=quantiles)
    difference = errors_b - errors_a
    expected = np.quantile(difference[draws].mean(1), quantiles)
    np.testing.assert_allclose(paired, expected)
    assert paired[0] < 0.5 < paired[1] and paired[1] - paired[0] < 0.1
    with pytest.raises(ValueError, match=r"ci must lie in \(0, 1\), got 1.5"):
        bootstrap.interval_quantiles(1.5)
