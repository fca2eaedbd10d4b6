"""The Compare page, rendered by AppTest on run folders written here to the contract:
the empty state, preselection from the link's query parameters, and the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.compare_runs import write_run
from tests.helpers.plotly_spec import array, specs
from tests.helpers.predictions import expected_figures, make_predictions, random_rows

REPO = Path(__file__).resolve().parent.parent
PAGE = str(REPO / "pages" / "compare.py")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(folder))
    return folder


def render(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def dumbbell(at: AppTest, title_start: str) -> dict:
    for spec in specs(at):
        if spec["layout"].get("title", {}).get("text", "").startswith(title_start):
            return spec
    raise AssertionError(f"no figure titled {title_start!r}")


def table_with(at: AppTest, column: str):
    """The first table shown that has ``column``."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def test_no_runs_says_how_to_get_some(root):
    write_run(root, "training", None, state="running")
    at = render()
    assert "Compare needs two finished runs" in at.info[0].value
    assert "--balance race" in at.info[0].value
    assert not at.get("plotly_chart")
    assert any("still running (epoch 2/5)" in m.value for m in at.markdown)  # not comparable, why


def test_preselected_from_the_link_and_the_figures_show_the_changes(root):
    rows = random_rows(300, seed=4)
    base = make_predictions(rows, [])
    better = base.copy()
    others = better["race_true"] == "Others"
    better.loc[others, "race_pred"] = "Others"
    write_run(root, "a-base", base)
    write_run(root, "b-balanced", better, config={"balance": "race"})
    write_run(root, "c-other", make_predictions(rows, [], seed=9).assign(gender_pred="male"))
    at = render({"baseline": "a-base", "runs": "b-balanced"})
    assert at.sidebar.selectbox(key="compare_baseline").value == "a-base"
    assert at.sidebar.multiselect(key="compare_runs").value == ["b-balanced"]
    assert at.title[0].value == "Compare"
    settings = at.dataframe[0].value
    assert list(settings.index) == ["balance"] and list(settings["b-balanced"]) == ["race"]

    at.selectbox(key="compare_attribute").set_value("race").run()
    at.selectbox(key="compare_metric").set_value("race_recall_Others").run()
    figure = dumbbell(at, "Race recall Others by race")
    ticks = figure["layout"]["yaxis"]["ticktext"]
    n_others = int(others.sum())
    assert ticks[0] == f"All faces (n={len(base)})" and f"Others (n={n_others})" in ticks
    change = next(t for t in figure["data"] if t.get("xaxis") == "x2")
    before = expected_figures(base, "race")["race_recall_Others"]
    position = ticks.index(f"Others (n={n_others})")
    assert np.isclose(array(change["x"])[position], 1.0 - before)
    assert array(change["marker"]["symbol"])[position] == "circle"  # solid: excludes 0
    table = table_with(at, "verdict")
    assert (table["run"] == "b-balanced").all()
    assert "Race recall Others" in set(table["figure"]) and set(table["verdict"]) <= {"better", "worse"}
    assert any("No gap of Race recall Others" in i.value for i in at.info)  # per-class: no gap
    at.selectbox(key="compare_metric").set_value("race_accuracy").run()
    gaps = table_with(at, "groups of")
    assert "Race" in set(gaps["groups of"])
    assert dumbbell(at, "Gap in Race accuracy")["layout"]["yaxis"]["ticktext"][0].startswith("Gender")


def test_the_link_follows_the_pickers_and_a_new_link_wins(root):
    for name, seed in (("a", 0), ("b", 1), ("c", 2)):
        write_run(root, name, make_predictions(seed=seed))
    at = render({"baseline": "c", "runs": "a,b"})
    assert at.sidebar.multiselect(key="compare_runs").value == ["a", "b"]
    at.sidebar.selectbox(key="compare_baseline").set_value("a").run()
    assert not at.exception
    assert at.sidebar.multiselect(key="compare_runs").value == ["b"]  # a is the baseline now
    at.sidebar.multiselect(key="compare_runs").set_value([]).run()
    assert "Pick one or more runs" in at.info[0].value and not at.get("plotly_chart")
    at.sidebar.multiselect(key="compare_runs").set_value(["c"]).run()
    assert len([s for s in specs(at) if "by" in s["layout"].get("title", {}).get("text", "")]) >= 1


def test_unknown_run_in_the_link_is_said(root):
    write_run(root, "a", make_predictions())
    write_run(root, "b", make_predictions(seed=1))
    at = render({"baseline": "a", "runs": "gone"})
    assert any("gone" in w.value for w in at.warning)
    assert at.sidebar.multiselect(key="compare_runs").value == ["b"]  # the default pick


def test_runs_that_share_no_face_show_the_reason(root):
    base = make_predictions()
    write_run(root, "a", base)
    write_run(root, "b", base.assign(path=base["path"].str.replace("/faces/", "/moved/")),
              config={"seed": 3})
    at = render({"baseline": "a", "runs": "b"})
    assert "a and b share no test image: other seed" in at.error[0].value


def test_a_head_one_run_lacks_is_left_out_and_said(root):
    base = make_predictions()
    write_run(root, "a", base)
    write_run(root, "masked", base.assign(race_pred=None))
    at = render({"baseline": "a", "runs": "masked"})
    assert any("masked made no race predictions" in m.value for m in at.markdown)
    options = at.selectbox(key="compare_metric").options  # as shown: titles
    assert "Race accuracy" not in options and "Gender accuracy" in options
    assert options.index("Gender recall female") == options.index("Gender recall male") + 1
