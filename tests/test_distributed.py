"""Multi-worker training: TF_CONFIG parsing, the local launcher, and two real CPU
workers on 127.0.0.1 matching one worker on the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelkit.__main__ import main
from modelkit.config import TrainConfig
from modelkit.runfolder import MULTIWORKER_CHECKPOINTS
from modelkit.training.multiworker import launcher
from modelkit.training.multiworker.cluster import cluster_task
from modelkit.training.multiworker.launcher import local_tf_configs
from tests.helpers.datasets import make_tiny_synthetic

REPO = Path(__file__).resolve().parents[1]
PER_REPLICA_BATCH, LR, EPOCHS = 8, 0.002, 3


def tf_config(cluster: dict, task_type: str, index: int) -> dict:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type,
                                                                  "index": index}})}


TWO = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
WITH_CHIEF = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"TF_CONFIG": "  "}, None),
    (tf_config(TWO, "worker", 0), (2, True)),
    (tf_config(TWO, "worker", 1), (2, False)),
    (tf_config(WITH_CHIEF, "chief", 0), (3, True)),
    (tf_config(WITH_CHIEF, "worker", 0), (3, False)),
])
def test_cluster_task_reads_tf_config(environ, expected):
    task = cluster_task(environ)
    assert (task if task is None else (task.workers, task.is_chief)) == expected


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}), "names no workers"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 2}}), "not a worker or chief"),
    (json.dumps({"cluster": TWO, "task": {"type": "ps", "index": 0}}), "not a worker or chief"),
])
def test_cluster_task_names_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=message):
        cluster_task({"TF_CONFIG": raw})


def test_local_tf_configs_share_one_cluster_of_free_local_ports():
    configs = local_tf_configs(3)
    addresses = configs[0]["cluster"]["worker"]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [cluster_task({"TF_CONFIG": json.dumps(c)}).is_chief for c in configs] == [
        True, False, False]


def test_workers_cannot_run_in_the_background(capsys):
    assert main(["train", "--workers", "2", "--background"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_reading_the_cluster_imports_no_tensorflow():
    code = ("import sys, modelkit.training, modelkit.training.multiworker.cluster, "
            "modelkit.training.multiworker.launcher; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


class FinishedWorker:
    """What the launcher sees of a worker process that exited with 0."""

    returncode = 0

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


def test_the_launcher_hands_every_worker_the_config_as_a_file(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(launcher.subprocess, "Popen",
                        lambda cmd, env, **kw: started.append((cmd, env)) or FinishedWorker())
    config = TrainConfig(source="csv", labels="faces.csv", epochs=4, balance="race")
    assert launcher.launch_local_workers(config, workers=3, run_dir=tmp_path / "r", resume=True) == 0
    commands = [cmd for cmd, _ in started]
    assert len(set(map(tuple, commands))) == 1  # the same command for every worker
    cmd = commands[0]
    assert cmd[1:4] == ["-m", "modelkit", "train"] and cmd[-3:] == [
        "--run-dir", str(tmp_path / "r"), "--resume"]
    assert TrainConfig.load(cmd[cmd.index("--config") + 1]) == config.with_absolute_paths()
    tasks = [json.loads(env["TF_CONFIG"])["task"] for _, env in started]
    assert tasks == [{"type": "worker", "index": i} for i in range(3)]


# ----------------------------------------------------------------- real workers (slow)
def train_cli(*flags: str, tmpdir: Path, timeout: float = 150) -> subprocess.CompletedProcess:
    """``python -m modelkit train ...`` in a subprocess (TF_CONFIG and collective state
    must not leak into the test process) with its own ``TMPDIR``; ``timeout`` is the
    deadline."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | {"TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "modelkit", "train", *flags], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def epoch_lines(run_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [line for line in lines if line["type"] == "epoch"]


def only_run_folder(runs_root: Path) -> Path:
    folders = [p for p in runs_root.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two workers with per-replica batch 8, and one worker with the same global batch
    (16) and the same linearly scaled learning rate, on the same 64 faces."""
    root = make_tiny_synthetic(tmp_path_factory.mktemp("faces"), n=64)
    common = ["--source", "synthetic", "--root", str(root), "--image-size", "32",
              "--epochs", str(EPOCHS), "--no-augment", "--seed", "0"]
    out = {"tmpdir": tmp_path_factory.mktemp("tmp")}
    for workers in (2, 1):
        runs_root = tmp_path_factory.mktemp(f"runs-{workers}")
        done = train_cli(*common, "--workers", str(workers), "--runs-root", str(runs_root),
                         "--batch-size", str(PER_REPLICA_BATCH * 2 // workers),
                         "--lr", str(LR * 2 / workers), tmpdir=out["tmpdir"])
        assert done.returncode == 0, done.stderr[-3000:]
        out[workers] = (runs_root, done)
    out["common"] = common
    return out


@pytest.mark.slow
def test_two_workers_both_train_and_the_chief_alone_writes_one_run_folder(runs):
    runs_root, done = runs[2]
    run = only_run_folder(runs_root)
    assert done.stdout.strip().splitlines()[-1] == str(run)
    for name in ("config.json", "metrics.jsonl", "model.keras", "predictions.parquet"):
        assert (run / name).is_file(), name
    assert list((run / MULTIWORKER_CHECKPOINTS).glob("ckpt-*.index"))
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["epoch"] == EPOCHS
    assert json.loads((run / "config.json").read_text())["distribution"] == {
        "strategy": "MultiWorkerMirroredStrategy", "workers": 2, "replicas": 2,
        "global_batch_size": 16, "lr_scaled": LR * 2}
    epochs = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == list(range(1, EPOCHS + 1))
    assert {(e["workers"], e["replicas"], e["global_batch_size"]) for e in epochs} == {(2, 2, 16)}
    # Both workers' shares add up to whole global batches each step.
    steps = status["steps_per_epoch"]
    assert all(e["images"] == steps * 16 for e in epochs)
    # The non-chief's scratch checkpoints are gone; its log is kept for debugging.
    assert not list(runs["tmpdir"].glob("facescope-worker1-ckpt-*"))
    assert "worker 1: log in" in done.stderr


@pytest.mark.slow
def test_two_workers_match_one_worker_with_the_same_global_batch(runs):
    """Same data, seed, global batch and learning rate: the training losses agree to
    within 10% each epoch (they differ only by per-replica batch-norm statistics and
    dropout masks), and both learned (the loss fell by over 10%)."""
    two, one = (epoch_lines(only_run_folder(runs[w][0])) for w in (2, 1))
    assert [e["replicas"] for e in one] == [1] * EPOCHS
    for a, b in zip(two, one, strict=True):
        assert a["images"] == b["images"]
        assert a["loss"] == pytest.approx(b["loss"], rel=0.10), (a["epoch"], a["loss"], b["loss"])
    for lines in (two, one):
        assert lines[-1]["loss"] < 0.9 * lines[0]["loss"]


@pytest.mark.slow
def test_restarted_workers_resume_from_the_chiefs_checkpoint(runs):
    runs_root, _ = runs[2]
    run = only_run_folder(runs_root)
    done = train_cli(*runs["common"], "--workers", "2", "--run-dir", str(run), "--resume",
                     "--epochs", str(EPOCHS + 1), "--batch-size", str(PER_REPLICA_BATCH),
                     "--lr", str(LR * 2), tmpdir=runs["tmpdir"])
    assert done.returncode == 0, done.stderr[-3000:]
    epochs = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == list(range(1, EPOCHS + 2))  # only one new epoch
    assert epochs[-1]["loss"] < epochs[0]["loss"]  # continued, not restarted
    assert json.loads((run / "status.json").read_text())["epoch"] == EPOCHS + 1
    assert only_run_folder(runs_root) == run


def test_validation_scores_the_averaged_weights_and_training_goes_on_with_its_own():
    """The multi-worker loop validates inside ``averaged_weights``, as ``model.fit`` with
    ``SwapEMAWeights``: inside, the model holds the optimizer's average; after, the
    trained weights are back, unchanged."""
    import keras
    import numpy as np

    from modelkit.training.multiworker.trainer import averaged_weights

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    for batch in np.split(x, 8):  # train_on_batch: fit would end by writing the average in
        model.train_on_batch(batch, batch.sum(axis=1, keepdims=True))
    trained = [v.numpy().copy() for v in model.trainable_variables]
    average = [v.numpy().copy() for v in model.optimizer._model_variables_moving_average]
    assert not all(np.allclose(a, b) for a, b in zip(trained, average, strict=True))

    with averaged_weights(model, enabled=True):
        for var, expected in zip(model.trainable_variables, average, strict=True):
            np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6, atol=1e-6)
    for var, expected in zip(model.trainable_variables, trained, strict=True):
        np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6, atol=1e-6)
    now = [v.numpy().copy() for v in model.trainable_variables]
    with averaged_weights(model, enabled=False):  # no EMA: nothing is swapped
        for var, expected in zip(model.trainable_variables, now, strict=True):
            np.testing.assert_array_equal(var.numpy(), expected)
