"""The Evaluate page's evaluation sets, rendered by AppTest: picking a run's prediction on
another dataset, grouping by the set's own classes, comparing on the same set, and the
"Predict on another dataset" form (its path check here; a real job in the slow test)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelkit import evaluate as ev
from modelkit import labels, runs
from modelkit.prediction.dataset import write_eval_set
from modelkit.prediction.evalsets import eval_dir
from tests.helpers.evaluate_page import PAGE, write_run
from tests.helpers.plotly_spec import array
from tests.helpers.predictions import make_predictions
from tests.helpers.waits import wait_for

# FairFace classes standing behind the runs' UTKFace labels, for the hand-made set.
OWN_CLASSES = {"White": ["White"], "Black": ["Black"], "Asian": ["East Asian", "Southeast Asian"]}



def write_set(run_dir, name="fairface", *, seed=1):
    """An evaluation set folder as `predict` writes it, from a hand-made table."""
    frame = make_predictions(seed=seed)
    frame = frame[frame["split"] == "test"].reset_index(drop=True)
    seen = {r: 0 for r in OWN_CLASSES}
    own = []
    for race in frame["race_true"]:  # each UTKFace class's finer classes in turn
        if pd.isna(race):
            own.append(None)
            continue
        own.append(OWN_CLASSES[race][seen[race] % len(OWN_CLASSES[race])])
        seen[race] += 1
    frame["race_source_true"] = own
    info = {"name": name, "source": "fairface", "root": "/data/fairface", "n_images": len(frame),
            "n_skipped": 0, "race_mapping": {"kind": "labels", "from": "fairface", "to": "utkface"}}
    write_eval_set(eval_dir(run_dir, name), frame, info)
    return frame


def render(timeout: int = 60) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def bar_spec(at) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0]["type"] == "bar")


def test_picking_an_evaluation_set_evaluates_it_by_its_own_classes(runs_root):
    run = write_run(runs_root, "run-a", make_predictions())
    frame = write_set(run)
    at = render()
    picker = at.sidebar.selectbox(key="evaluate_set")
    assert picker.value == ""  # the run's own split until another is picked
    assert picker.options == ["the run's own split", f"fairface · FairFace · {len(frame)} faces"]
    picker.set_value("fairface").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == f"run-a on fairface · test · {len(frame)} faces"
    assert any("Evaluating on fairface (fairface at /data/fairface" in c.value for c in at.caption)
    assert "Race (the set's own classes)" in at.selectbox(key="evaluate_grouping").options
    at.selectbox(key="evaluate_grouping").set_value("race_source").run()
    at.selectbox(key="evaluate_metric").set_value("gender_accuracy").run()
    trace = bar_spec(at)["data"][0]
    expected = ev.evaluate(frame, n_boot=0).by_group.query(
        "grouping == 'race_source' and metric == 'gender_accuracy'")
    present = set(frame["race_source_true"].dropna())
    assert trace["x"] == expected["group"].tolist() == [r for r in labels.FAIRFACE_RACES if r in present]
    assert array(trace["y"]) == pytest.approx(expected["value"].tolist())


def test_a_compared_run_without_the_set_is_left_out_with_a_warning(runs_root):
    write_set(write_run(runs_root, "run-a", make_predictions()))
    write_run(runs_root, "run-b", make_predictions(seed=3))
    at = render()
    at.sidebar.selectbox(key="evaluate_run").set_value("run-a").run()
    at.sidebar.selectbox(key="evaluate_set").set_value("fairface").run()
    at.sidebar.selectbox(key="evaluate_compare").set_value("run-b").run()
    assert not at.exception
    assert any("has no evaluation set 'fairface'" in w.value for w in at.warning)
    assert {t["name"] for t in bar_spec(at)["data"]} == {"run-a on fairface"}


def test_the_form_refuses_a_folder_outside_the_data_roots(runs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path / "data"))
    write_run(runs_root, "run-a", make_predictions())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    at = render()
    at.text_input(key="evaluate_predict_root").set_value(str(outside))
    next(b for b in at.button if b.label == "Predict").click().run()
    assert any("is outside the folders the dashboard may read" in e.value for e in at.error)
    assert not runs.list_runs()  # nothing queued


@pytest.mark.slow
def test_the_form_starts_a_job_and_the_page_picks_its_set(runs_root, tmp_path_factory, monkeypatch):
    from tests.helpers.samples import FAIRFACE
    from tests.helpers.tiny_run import copy_run, trained_tiny_run

    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(FAIRFACE.parent))
    run = copy_run(trained_tiny_run(tmp_path_factory.getbasetemp()), runs_root / "run-a")
    at = render()
    at.text_input(key="evaluate_predict_root").set_value(str(FAIRFACE))
    at.number_input(key="evaluate_predict_limit").set_value(60)
    at.text_input(key="evaluate_predict_name").set_value("ff60")
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = [r for r in runs.list_runs() if r.kind == "predict"]
    assert job.parent == "run-a" and job.config["limit"] == 60
    assert runs.wait(job.id, timeout=400).state == "finished"
    # The live panel sees the end on its next redraw and reruns the page on the new set.
    wait_for(lambda: at.run() and at.sidebar.selectbox(key="evaluate_set").value == "ff60",
             timeout=60, what="the page to pick the new evaluation set")
    assert (run / "eval" / "ff60" / "predictions.parquet").is_file()
    assert at.subheader[0].value.startswith("run-a on ff60 · test · 60 faces")
