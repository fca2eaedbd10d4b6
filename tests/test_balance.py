"""The balance plan's arithmetic, checked against the formula written out by hand."""

import numpy as np
import pandas as pd
import pytest

from modelkit import labels
from modelkit.balance import epoch_counts, plan_balance, split_part, training_plan
from modelkit.config import DEFAULTS
from modelkit.data.manifest import build_manifest, counts


def make_manifest(rows):
    """rows: list of (age, gender, race) with None for a missing label."""
    frame = pd.DataFrame(rows, columns=["age", "gender", "race"])
    frame.insert(0, "path", [f"img{i}.jpg" for i in range(len(frame))])
    return build_manifest(frame, race_classes=labels.UTKFACE_RACES)


@pytest.fixture
def skewed():
    # 20-29: 12 images, 30-39: 6, 70+: 2, 3-9: 1; race mostly White.
    rows = ([(25, "male", "White")] * 8 + [(25, "female", "Black")] * 4
            + [(35, "female", "White")] * 6 + [(75, "male", "Asian")] * 2 + [(5, "female", "Indian")])
    return make_manifest(rows)


@pytest.mark.parametrize("target,max_repeat", [("max", 3), ("max", 100), ("median", 2), (5, 4), (0, 4)])
def test_after_counts_follow_the_formula(skewed, target, max_repeat):
    plan = plan_balance(skewed, attribute="age_group", target=target, max_repeat=max_repeat)
    n = skewed["age_group"].value_counts()
    present = n[n > 0]
    goal = {"max": present.max(), "median": present.median()}.get(target, target)
    for group in labels.AGE_GROUPS:
        expected = max(n[group], min(goal, n[group] * max_repeat))
        assert plan.after[group] == expected, group
        assert plan.repeats[(skewed["age_group"] == group).to_numpy()].sum() == expected


def test_originals_are_never_dropped_and_reuse_is_capped(skewed):
    plan = plan_balance(skewed, attribute="age_group", target="max", max_repeat=3)
    assert plan.repeats.min() >= 1
    assert plan.repeats.max() <= 3
    # 70+ has 2 images and the cap is 3: 6, not the 12 that "max" asks for.
    assert plan.after["70+"] == 6


def test_rebalancing_age_shifts_the_race_mix(skewed):
    plan = plan_balance(skewed, attribute="age_group", target="max", max_repeat=12)
    before, after = plan.counts_before("race"), plan.counts_after("race")
    assert before["Indian"] == 1 and after["Indian"] == 12  # the lone child is repeated 12×
    assert after.sum() == plan.repeats.sum()


def test_joint_cells_are_each_raised(skewed):
    plan = plan_balance(skewed, attribute="joint", target="max", max_repeat=3)
    assert plan.target == 8
    # cells of 8, 4, 6, 2 and 1 images: max(n, min(8, 3n))
    assert sorted(plan.after.to_list()) == [3, 6, 8, 8, 8]


def test_unlabelled_rows_keep_weight_one():
    manifest = make_manifest([(25, "male", None)] * 3 + [(30, "male", "White")] + [(40, "female", "Black")] * 4)
    plan = plan_balance(manifest, attribute="race", target="max", max_repeat=10)
    assert plan.repeats[:3].tolist() == [1, 1, 1]
    assert plan.after["White"] == 4
    assert plan.counts_after("race")[labels.NOT_LABELLED] == 3


def test_repeats_are_seeded():
    manifest = make_manifest([(25, "male", "White")] * 7 + [(5, "male", "White")] * 3)
    a = plan_balance(manifest, attribute="age_group", target=8, max_repeat=4, seed=1).repeats
    b = plan_balance(manifest, attribute="age_group", target=8, max_repeat=4, seed=1).repeats
    assert np.array_equal(a, b)
    assert a[7:].sum() == 8


@pytest.mark.parametrize("kwargs,message", [
    ({"attribute": "hair"}, "attribute must be one of"),
    ({"attribute": "race", "target": "mean"}, "target must be"),
    ({"attribute": "race", "target": -1}, "target must be"),
    ({"attribute": "race", "max_repeat": 0}, "max_repeat must be"),
])
def test_bad_arguments_say_what_was_expected(skewed, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_balance(skewed, **kwargs)


def with_splits(manifest, splits):
    manifest = manifest.copy()
    manifest["split"] = pd.Categorical(splits, categories=list(labels.SPLITS))
    return manifest


def test_training_plans_the_train_split_only(skewed):
    # Every other row of 20-29 goes to val: the train split has 6 of its 12.
    splits = ["val" if i < 12 and i % 2 else "train" for i in range(len(skewed))]
    manifest = with_splits(skewed, splits)
    plan = training_plan(manifest, balance="age_group", target="max", max_repeat=3, seed=0)
    train = split_part(manifest, "train")
    assert len(plan.manifest) == len(train) == len(skewed) - 6
    assert plan.before["20-29"] == 6 and plan.target == 6  # the max of the train split
    expected = plan_balance(train, attribute="age_group", target="max", max_repeat=3, seed=0)
    np.testing.assert_array_equal(plan.repeats, expected.repeats)
    assert plan.images_per_epoch == plan.repeats.sum() == epoch_counts(train, plan, "race").sum()


def test_training_plan_defaults_are_train_s():
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(training_plan).parameters.items()
                if v.default is not inspect.Parameter.empty}
    assert defaults == {"balance": DEFAULTS.balance, "target": DEFAULTS.target,
                        "max_repeat": DEFAULTS.max_repeat, "seed": DEFAULTS.seed}


def test_no_rebalancing_means_the_train_split_as_it_is(skewed):
    manifest = with_splits(skewed, ["train"] * (len(skewed) - 3) + ["test"] * 3)
    assert training_plan(manifest, balance="none") is None
    train = split_part(manifest, "train")
    assert epoch_counts(train, None, "gender").equals(counts(train, "gender"))
    assert training_plan(with_splits(skewed, ["val"] * len(skewed)), balance="race") is None


@pytest.mark.parametrize("call, message", [
    (lambda m: training_plan(m, balance="hair"), "balance must be one of none, age_group"),
    (lambda m: split_part(m, "holdout"), "split must be one of train, val, test"),
])
def test_training_plan_errors_name_the_choices(skewed, call, message):
    with pytest.raises(ValueError, match=message):
        call(with_splits(skewed, ["train"] * len(skewed)))
