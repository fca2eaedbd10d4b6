"""The Evaluate page, rendered by AppTest for run folders built by hand
(tests/helpers/evaluate_page.py: a predictions table written to the contract, with
real image files for the gallery)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard import loaders
from modelkit import evaluate as ev
from tests.helpers.evaluate_page import PAGE, REPO, write_run
from tests.helpers.predictions import make_predictions


def heatmap(at: AppTest, head: str) -> dict:
    """The Plotly spec of a head's confusion matrix (AppTest sees charts as specs)."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["data"][0]["type"] == "heatmap" and spec["layout"]["title"]["text"].startswith(
                {"gender": "Gender", "race": "Race", "age_group": "Age group"}[head]):
            return spec
    raise AssertionError(f"no {head} heatmap")


def expected_matrix(frame, head, where=None) -> list[list[int]]:
    rows = frame[(frame["split"] == "test") & frame[f"{head}_true"].notna()]
    for attribute, value in (where or {}).items():
        rows = rows[rows[f"{attribute}_true"] == value]
    classes = ev.class_labels(frame, head)
    return pd.crosstab(rows[f"{head}_true"], rows[f"{head}_pred"]).reindex(
        index=classes, columns=classes, fill_value=0).to_numpy().tolist()


def render(timeout: int = 60) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_runs_says_what_to_do(runs_root):
    at = render()
    assert "No run with predictions yet" in at.info[0].value
    assert not at.get("plotly_chart")


def test_page_renders_matrices_and_group_filter_changes_them(runs_root):
    frame = make_predictions()
    write_run(runs_root, "run-a", frame)
    at = render()
    assert at.selectbox(key="evaluate_run").value == "run-a"
    assert at.radio(key="evaluate_split").value == "test"
    gender = heatmap(at, "gender")
    assert gender["data"][0]["z"] == expected_matrix(frame, "gender")
    assert gender["data"][0]["x"] == gender["data"][0]["y"] == ["male", "female"]
    assert heatmap(at, "race")["data"][0]["x"] == ["White", "Black", "Asian", "Indian", "Others"]
    # overall figures shown are the module's
    overall = ev.evaluate(frame, n_boot=0)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Race accuracy"] == f"{overall.overall_value('race_accuracy'):.1%}"

    at.sidebar.selectbox(key="evaluate_filter_attr").set_value("race").run()
    at.sidebar.selectbox(key="evaluate_filter_value").set_value("Black").run()
    assert not at.exception
    filtered = heatmap(at, "gender")["data"][0]["z"]
    assert filtered == expected_matrix(frame, "gender", {"race": "Black"})
    assert filtered != gender["data"][0]["z"]
    assert "race = Black" in heatmap(at, "gender")["layout"]["title"]["text"]

    at.sidebar.toggle(key="evaluate_normalize").set_value(True).run()
    shares = np.array(heatmap(at, "gender")["data"][0]["z"])
    counts = np.array(expected_matrix(frame, "gender", {"race": "Black"}))
    np.testing.assert_allclose(shares, counts / counts.sum(axis=1, keepdims=True))


def test_by_group_chart_has_intervals_n_and_overall_line(runs_root):
    frame = make_predictions()
    write_run(runs_root, "run-a", frame)
    at = render()
    at.selectbox(key="evaluate_grouping").set_value("race").run()
    at.selectbox(key="evaluate_metric").set_value("age_mae").run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = next(s for s in specs if s["data"][0]["type"] == "bar")
    trace = bars["data"][0]
    assert trace["x"] == ["White", "Black", "Asian"]
    assert trace["text"] == ["n=5", "n=5", "n=1"]
    assert "error_y" in trace and len(trace["error_y"]["array"]) == 3
    overall = ev.evaluate(frame, n_boot=0).overall_value("age_mae")
    assert [round(s["y0"], 9) for s in bars["layout"]["shapes"]] == [round(overall, 9)]
    table = at.dataframe[0].value  # worst groups on the chosen figure, n >= 5 by default
    assert (table["n"] >= 5).all()
    assert list(table.loc[table["by"] == "Race", "group"]) == ["Black", "White"]  # MAE 4.6 > 3.4
    assert list(table["worse than overall by"]) == sorted(table["worse than overall by"], reverse=True)


def test_two_runs_compare_side_by_side(runs_root):
    write_run(runs_root, "run-a", make_predictions(seed=0))
    write_run(runs_root, "run-b", make_predictions(seed=3).assign(race_pred="White"))
    at = render()
    other = [o for o in at.selectbox(key="evaluate_compare").options if o.startswith("run-")][0]
    at.selectbox(key="evaluate_compare").set_value(other).run()
    assert not at.exception
    bars = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0]["type"] == "bar")
    assert {t["name"] for t in bars["data"]} == {"run-a", "run-b"}
    assert sum(json.loads(c.proto.spec)["data"][0]["type"] == "heatmap" for c in at.get("plotly_chart")) == 6


def test_gallery_opens_the_explain_page(runs_root):
    frame = make_predictions()
    run_dir = write_run(runs_root, "run-a", frame)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    at.selectbox(key="evaluate_gallery_head").set_value("race").run()
    buttons = [b for b in at.button if (b.key or "").startswith("evaluate_explain_")]
    assert len(buttons) == 4  # the four wrong race predictions
    assert len(at.get("image")) == 4  # each with its thumbnail
    assert not [c for c in at.caption if "image not found" in c.value]
    buttons[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Explain"
    worst = ev.worst_errors(ev.select_split(pd.read_parquet(run_dir / ev.PREDICTIONS_FILE))[0],
                            "race", k=1)["path"][0]
    if "explain_image" in at.session_state:  # the hand-off: {"run_dir", "path"}
        assert at.session_state["explain_image"] == {"run_dir": str(run_dir), "path": worst}
    else:  # the Explain page has already adopted (and consumed) it
        assert at.session_state["explain_pinned"] == worst


def test_loaders_list_runs_newest_first_and_read_predictions(runs_root):
    older = write_run(runs_root, "run-old", make_predictions())
    newer = write_run(runs_root, "run-new", make_predictions(seed=2))
    os.utime(older / ev.PREDICTIONS_FILE, (1_000_000, 1_000_000))
    (runs_root / "no-predictions").mkdir()
    assert loaders.runs_with_predictions() == [newer, older]
    assert loaders.predictions_mtime(runs_root / "no-predictions") is None
    assert loaders.predictions(str(runs_root / "no-predictions"), None) is None
    table = loaders.predictions(str(newer), loaders.predictions_mtime(newer))
    pd.testing.assert_frame_equal(table, ev.load_predictions(newer))


def test_thumbnail_is_the_one_decoder_shrunk_and_none_when_unreadable(tmp_path):
    from modelkit.data import decode

    wide = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 80, 3), np.uint8)).save(wide)
    small = loaders.thumbnail(wide, 32)
    assert small.shape == (16, 32, 3) and small.dtype == np.uint8  # aspect kept
    np.testing.assert_array_equal(small, decode.thumbnail(wide, max_side=32))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert loaders.thumbnail(tmp_path / "broken.png") is None
    assert loaders.thumbnail(tmp_path / "missing.png") is None


@pytest.mark.slow
def test_page_renders_a_real_tiny_run(runs_root):
    """Train a tiny run end to end, then render the page for it."""
    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="synthetic", limit=60, backbone="small_cnn", image_size=32,
                         epochs=1, batch_size=16)
    run_dir = Path(train(config, run_dir=str(runs_root / "tiny"), resume=False))
    assert (run_dir / ev.PREDICTIONS_FILE).is_file()
    at = render(timeout=120)
    assert at.selectbox(key="evaluate_run").value == "tiny"
    assert heatmap(at, "gender")["data"][0]["x"] == ["male", "female"]
