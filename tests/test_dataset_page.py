"""The Dataset page shows what training will see: its "after" bars are the plan
``train`` uses (train split, TrainConfig's defaults), and their total is the number of
images one epoch of the real pipeline yields."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from modelkit.config import DEFAULTS, TrainConfig
from modelkit.training.prepare import prepare_data
from tests.helpers.plotly_spec import array, specs

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "dataset.py")
ATTRIBUTES = ("age_group", "gender", "race")


@pytest.fixture
def small_synthetic(monkeypatch):
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "120")


def bar_values(spec, stage):
    trace = next(t for t in spec["data"] if t["name"] == stage)
    return dict(zip(array(trace["x"]), array(trace["y"]), strict=True))


def chart(at, attribute):
    """(before, after) bars of the attribute's chart: {value: images}."""
    spec = next(s for s in specs(at)
                if s["layout"]["title"]["text"].lower().replace(" ", "_") == attribute)
    return bar_values(spec, "before"), bar_values(spec, "after plan")


def metric(at, label):
    return int(next(m for m in at.metric if m.label == label).value.replace(",", ""))


def test_lands_on_the_synthetic_set_with_training_defaults(small_synthetic):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert metric(at, "Images") == 120
    # The plan widgets start at TrainConfig's defaults.
    assert at.selectbox(key="ds_balance").value == DEFAULTS.balance
    assert at.slider(key="ds_k").value == DEFAULTS.max_repeat
    assert at.radio(key="ds_target").value == DEFAULTS.target
    # The bars count the train split, not the whole dataset.
    n_train = metric(at, "Train split")
    for attribute in ATTRIBUTES:
        before, after = chart(at, attribute)
        assert sum(before.values()) == n_train < 120
        if DEFAULTS.balance == "none":
            assert after == before
    assert any(f"the train split as it is, {n_train:,} images per epoch" in c.value
               for c in at.caption)
    assert len(at.get("imgs")) or at.get("image")


def test_changing_the_balance_attribute_follows_the_formula_on_the_train_split(small_synthetic):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="ds_balance").set_value("race").run()
    assert not at.exception
    race_before, race_after = chart(at, "race")
    assert sum(race_before.values()) == metric(at, "Train split")
    top, k = max(race_before.values()), DEFAULTS.max_repeat
    assert race_after == {r: max(n, min(top, k * n)) for r, n in race_before.items()}
    caption = next(c.value for c in at.caption if "images per epoch" in c.value)
    assert f"{sum(race_after.values()):,} images per epoch" in caption


@pytest.mark.parametrize("balance, target, max_repeat", [("age_group", "max", None),
                                                         ("joint", "median", 2)])
def test_the_page_shows_the_plan_and_the_epoch_that_train_uses(small_synthetic, balance, target,
                                                               max_repeat):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="ds_balance").set_value(balance).run()
    at.radio(key="ds_target").set_value(target).run()
    if max_repeat:
        at.slider(key="ds_k").set_value(max_repeat).run()
    assert not at.exception
    shown = {a: chart(at, a)[1] for a in ATTRIBUTES}

    # The plan `train` builds for the same settings (the rest: TrainConfig's defaults).
    config = TrainConfig(balance=balance, target=target, max_repeat=max_repeat or DEFAULTS.max_repeat,
                         augment=False, image_size=16, batch_size=32)
    data = prepare_data(config)
    for attribute in ATTRIBUTES:
        planned = {str(k): int(v) for k, v in data.plan.counts_after(attribute).items()}
        assert shown[attribute] == planned, attribute
    # One epoch of the real tf.data pipeline holds the page's "after" total.
    after_total = sum(shown["gender"].values())
    epoch = sum(int(np.shape(images)[0]) for images, _ in data.train.as_numpy_iterator())
    assert epoch == data.images_per_epoch == after_total > metric(at, "Train split")
    assert data.steps_per_epoch == -(-after_total // 32)


def test_a_folder_outside_the_data_roots_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path / "allowed"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="ds_source").set_value("utkface").run()
    at.text_input(key="ds_root").input("/etc").run()
    assert not at.exception
    assert "outside the folders the dashboard may read" in at.error[0].value


def test_a_missing_folder_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="ds_source").set_value("utkface").run()
    at.text_input(key="ds_root").input(str(tmp_path / "nope")).run()
    assert not at.exception
    assert "Could not read this dataset" in at.error[0].value
