"""The Dataset page renders on the synthetic default and on a user's UTKFace folder."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from plotly_spec import array, specs

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "dataset.py")


@pytest.fixture
def small_synthetic(monkeypatch):
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "120")


def bar_values(spec, stage):
    trace = next(t for t in spec["data"] if t["name"] == stage)
    return dict(zip(array(trace["x"]), array(trace["y"])))


def after_chart(at, attribute):
    spec = next(s for s in specs(at)
                if s["layout"]["title"]["text"].lower().replace(" ", "_") == attribute)
    return bar_values(spec, "before"), bar_values(spec, "after plan")


def test_lands_on_the_synthetic_set_with_before_and_after_charts(small_synthetic):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert at.metric[0].value == "120"
    before, after = after_chart(at, "age_group")
    assert sum(before.values()) == 120
    # Balancing age by default (K=4): no group shrinks, at least one grows.
    assert all(after[g] >= before[g] for g in before)
    assert sum(after.values()) > 120
    assert len(at.get("imgs")) or at.get("image")


def test_changing_the_balance_attribute_changes_the_after_chart(small_synthetic):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    _, race_after_age = after_chart(at, "race")
    at.selectbox(key="ds_balance").set_value("race").run()
    assert not at.exception
    race_before, race_after = after_chart(at, "race")
    assert race_after != race_after_age
    top = max(race_before.values())
    assert all(race_after[r] == max(n, min(top, 4 * n)) for r, n in race_before.items())


def test_a_folder_outside_the_data_roots_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path / "allowed"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="ds_source").set_value("utkface").run()
    at.text_input(key="ds_root").input("/etc").run()
    assert not at.exception
    assert "outside the allowed data folders" in at.error[0].value


def test_a_missing_folder_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="ds_source").set_value("utkface").run()
    at.text_input(key="ds_root").input(str(tmp_path / "nope")).run()
    assert not at.exception
    assert "Could not read this dataset" in at.error[0].value
