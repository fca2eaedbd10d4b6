"""Predictions as background jobs in the run registry: queued, supervised, cancelled and
reconciled like training runs, and the registry's migration that added them. The jobs
run the real `python -m modelkit predict` on real FairFace faces with a tiny UTKFace
model (slow)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from modelkit import runs
from modelkit.prediction import PredictRequest, list_eval_sets
from modelkit.prediction.background import prediction_jobs, start_prediction
from modelkit.runs import registry
from tests.helpers.samples import FAIRFACE
from tests.helpers.tiny_run import copy_run, trained_tiny_run
from tests.helpers.waits import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture
def root(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def run_dir(trained, root):
    return copy_run(trained, root / "20260101-000000-abcdef")


def request(run_dir, **extra) -> PredictRequest:
    return PredictRequest(run_dir=str(run_dir), source="fairface", root=str(FAIRFACE), **extra)


def test_a_prediction_job_runs_to_an_evaluation_set(run_dir, root):
    job = start_prediction(request(run_dir, limit=120), runs_root=root)
    assert job.kind == "predict" and job.parent == run_dir.name
    again = start_prediction(request(run_dir, limit=120), runs_root=root)  # a double click
    assert again.id == job.id
    done = runs.wait(job.id, runs_root=root, timeout=400)
    assert done.state == "finished", runs.log_tail(done.run_dir)
    assert [s.name for s in list_eval_sets(run_dir)] == ["fairface"]
    assert list_eval_sets(run_dir)[0].info["n_images"] == 120
    assert runs.progress(done)["fraction"] == 1.0
    result = json.loads((root / job.id / "result.json").read_text())
    assert result["eval_dir"] == str(run_dir / "eval" / "fairface")
    assert [j.id for j in prediction_jobs(run_dir, runs_root=root)] == [job.id]
    # A lost registry is rebuilt from the folders, the job still a job of that run.
    registry.registry_path(root).unlink()
    runs.reconcile(runs_root=root)
    rebuilt = runs.show(job.id, runs_root=root)
    assert (rebuilt.kind, rebuilt.parent, rebuilt.state) == ("predict", run_dir.name, "finished")
    assert runs.show(run_dir.name, runs_root=root).kind == "train"


def test_prediction_jobs_queue_and_cancel_like_runs(run_dir, root):
    first = start_prediction(request(run_dir, limit=600, batch_size=8, name="a"),
                                  runs_root=root)
    second = start_prediction(request(run_dir, name="b"), runs_root=root)
    assert runs.show(second.id, runs_root=root).state == "queued"  # one at a time
    assert runs.cancel(second.id, runs_root=root).state == "cancelled"
    wait_for(lambda: (runs.show(first.id, runs_root=root).batch or 0) > 0, timeout=300,
             what="the first job's first chunk")
    runs.cancel(first.id, runs_root=root)
    ended = runs.wait(first.id, runs_root=root, timeout=120)
    assert ended.state == "cancelled", runs.log_tail(ended.run_dir)
    assert list_eval_sets(run_dir) == []  # a cancelled prediction writes no set
    assert runs.show(second.id, runs_root=root).state == "cancelled"  # and never started


def test_a_run_without_a_model_queues_nothing(root, tmp_path):
    unfinished = root / "unfinished"
    unfinished.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="has no model.keras"):
        start_prediction(request(unfinished), runs_root=root)
    assert not [r for r in runs.list_runs(runs_root=root) if r.kind == "predict"]


def test_an_older_registry_is_upgraded_with_every_row_a_training_run(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    con = sqlite3.connect(registry.registry_path(root))
    for statements in registry.MIGRATIONS[:3]:
        for statement in statements:
            con.execute(statement)
    con.execute("PRAGMA user_version = 3")
    con.execute("INSERT INTO runs (id, state, config, created) VALUES ('old', 'finished', '{}', 1)")
    con.commit()
    con.close()
    (old,) = runs.list_runs(runs_root=root)
    assert (old.id, old.kind, old.parent) == ("old", "train", None)
    con = sqlite3.connect(registry.registry_path(root))
    assert con.execute("PRAGMA user_version").fetchone()[0] == registry.SCHEMA_VERSION
    con.close()
