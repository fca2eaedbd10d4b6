"""A ranking of suspect labels is a job of the one queue: it waits behind a training
run (never trains its K-fold models beside it), a double click queues it once, and the
Review page's state follows the job."""

from __future__ import annotations

import pytest

from modelkit import runs
from modelkit.curation import rank_jobs
from tests.helpers.curation_run import copy_into, trained_run
from tests.helpers.fake_trainer import install_fake_trainer, stop_all_runs
from tests.helpers.waits import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def fake_trainer(monkeypatch):
    install_fake_trainer(monkeypatch)
    monkeypatch.setenv("FAKE_BATCH_S", "0.05")
    yield
    stop_all_runs(timeout=120)


def test_a_ranking_waits_in_the_queue_behind_a_training_run(tmp_path_factory, runs_root, fake_trainer):
    run_dir = copy_into(trained_run(tmp_path_factory.getbasetemp(), ranked=False), runs_root)
    training = runs.start_run({"source": "synthetic", "epochs": 500})  # minutes of fake batches
    wait_for(lambda: runs.show(training.id).state == "running", what="the training run to start")

    job = rank_jobs.start_ranking(run_dir)
    assert (job.kind, job.state, job.parent) == ("rank", "queued", run_dir.name)
    assert rank_jobs.ranking_state(run_dir).state == "queued"
    assert rank_jobs.start_ranking(run_dir).id == job.id  # a second click: the same job
    wait_for(lambda: (runs.read_status(training.run_dir) or {}).get("epoch", 0) >= 2,
             what="two fake epochs")
    assert runs.show(job.id).state == "queued"  # still waiting while the run trains

    runs.cancel(training.id)
    stopped = runs.wait(training.id, timeout=60)
    ranked = runs.wait(job.id, timeout=600)
    assert ranked.state == "finished", runs.log_tail(ranked.run_dir)
    assert ranked.started >= stopped.ended - 1e-3
    assert rank_jobs.ranking_state(run_dir).state == "done"


def test_a_ranking_of_a_run_without_a_model_is_refused_at_once(tmp_path, runs_root):
    with pytest.raises(FileNotFoundError, match="model.keras not found: rank a finished run"):
        rank_jobs.start_ranking(tmp_path)
    assert runs.list_runs(runs_root=runs_root) == []
