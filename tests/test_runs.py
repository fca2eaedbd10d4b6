"""The launcher, registry, supervisor and queue of modelkit.runs.

Fast tests drive the real launcher path end to end: ``start_run`` writes the run's
``config.json``, a real supervisor process (``python -m modelkit.runs.supervisor``)
starts the real ``python -m modelkit train --config ... --run-dir ...``, and the real
CLI loads the config and calls ``modelkit.training.fit.train``. Only that last module
is a stand-in (tests/fake_trainer/fake_fit.py: the run-folder contract, no TensorFlow,
milliseconds per epoch). ``install_fake_trainer`` (tests/helpers/fake_trainer.py)
puts tests/fake_trainer on ``PYTHONPATH``; its ``sitecustomize.py`` makes every process
started from the test import the fake for that one module name. So no environment variable of the project and
no production branch exists for the tests. The slow test at the end trains for real.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelkit import runs
from modelkit.__main__ import main
from modelkit.access import read_audit
from modelkit.runs import processes, registry
from tests.helpers.fake_trainer import install_fake_trainer
from tests.helpers.waits import wait_dead, wait_for


@pytest.fixture
def root(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def fake_trainer(monkeypatch):
    return install_fake_trainer(monkeypatch)


def state_is(run_id, root, *states):
    """After a reconcile (as the CLI and the dashboard's timer do), is the run in ``states``?"""
    def check():
        runs.reconcile(runs_root=root)
        run = runs.show(run_id, runs_root=root)
        return run if run.state in states else None
    return check


def epoch_numbers(run):
    return [m["epoch"] for m in runs.epoch_metrics(run.run_dir)]


def registry_value(root, sql, *params):
    con = sqlite3.connect(root / "registry.sqlite")
    try:
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()


# ----------------------------------------------------------------------------- start, queue
def test_a_run_starts_in_the_background_and_finishes(root, fake_trainer):
    run = runs.start_run({"source": "synthetic", "epochs": 2}, runs_root=root)
    assert run.state == "running" and Path(run.run_dir).parent == root
    done = runs.wait(run.id, runs_root=root, timeout=30)
    assert done.state == "finished" and done.error is None, runs.log_tail(done.run_dir)
    assert done.epoch == 2 and epoch_numbers(done) == [1, 2]
    log = runs.log_tail(done.run_dir)
    assert "fake trainer from epoch 0" in log
    # The trainer got the run's config file, not a rebuilt command line.
    assert f"modelkit train --config {done.run_dir}/config.json --run-dir {done.run_dir}" in log
    assert json.loads(Path(done.run_dir, "config.json").read_text())["epochs"] == 2
    assert done.ended >= done.started >= done.created


def test_the_config_file_holds_absolute_paths(root, fake_trainer, tmp_path, monkeypatch):
    (tmp_path / "faces").mkdir()
    monkeypatch.chdir(tmp_path)
    run = runs.start_run({"source": "utkface", "root": "faces", "epochs": 1}, runs_root=root)
    assert json.loads(Path(run.run_dir, "config.json").read_text())["root"] == \
        str(tmp_path / "faces")
    assert runs.wait(run.id, runs_root=root, timeout=30).state == "finished"


@pytest.mark.parametrize(("config", "message"), [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"source": "imagenet"}, "source must be one of"),
    ({"colour": "red"}, "unknown train setting.*colour"),
    ({"balance": "age"}, "balance must be one of"),
    ({"ema": "yes"}, "ema must be true or false; got 'yes'"),
    ({"label_smoothing": 0.9}, "label_smoothing must be a number from 0 to 0.5; got 0.9"),
    ({"age_l1": -1}, "age_l1 must be a number from 0 to 10"),
    ({"head_hidden": 1.5}, "head_hidden must be an integer from 0 to 4096"),
    ({"dropout": 1.0}, "dropout must be a number from 0 to 0.9; got 1.0"),
])
def test_a_bad_setting_is_refused_before_anything_is_queued(root, config, message):
    with pytest.raises(ValueError, match=message):
        runs.start_run(config, runs_root=root)
    assert runs.list_runs(runs_root=root) == []
    # No run folder, no registry: only the audit log's line saying the start failed.
    assert sorted(p.name for p in root.iterdir()) == ["audit.jsonl"]
    (entry,) = read_audit(root)
    assert (entry["action"], entry["result"]) == ("run.start", "failed")
    assert "ValueError" in entry["detail"]


def test_a_double_submit_starts_one_run(root, fake_trainer):
    config = {"source": "synthetic", "epochs": 1}
    first = runs.start_run(config, runs_root=root)
    second = runs.start_run(dict(config), runs_root=root)
    assert second.id == first.id
    keyed = runs.start_run({"epochs": 3}, runs_root=root, idempotency_key="k1")
    again = runs.start_run({"epochs": 3}, runs_root=root, idempotency_key="k1")
    assert again.id == keyed.id
    assert len(runs.list_runs(runs_root=root)) == 2


def test_queued_runs_start_one_at_a_time_in_submit_order(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.2")  # the first run outlasts the asserts below
    first = runs.start_run({"epochs": 2}, runs_root=root)
    second = runs.start_run({"epochs": 1}, runs_root=root)
    third = runs.start_run({"epochs": 1, "seed": 1}, runs_root=root)
    assert (first.state, second.state, third.state) == ("running", "queued", "queued")
    assert (second.queue_position, third.queue_position) == (1, 2) and second.pid is None
    assert [r.queue_position for r in runs.list_runs(runs_root=root)] == [2, 1, None]
    # Each run's supervisor starts the next when its run ends: no reader needed.
    wait_for(lambda: registry_value(root, "SELECT state FROM runs WHERE id=?", third.id)
             == "finished", timeout=60, what="the whole queue to run")
    ended = [runs.show(r.id, runs_root=root) for r in (first, second, third)]
    assert all(r.state == "finished" for r in ended)
    assert ended[0].ended <= ended[1].started and ended[1].ended <= ended[2].started


def test_a_raised_limit_runs_two_at_once(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.3")
    runs.set_max_concurrent(2, runs_root=root)
    assert runs.get_max_concurrent(runs_root=root) == 2
    a = runs.start_run({"epochs": 1}, runs_root=root)
    b = runs.start_run({"epochs": 2}, runs_root=root)
    assert (a.state, b.state) == ("running", "running")
    for run in (a, b):
        runs.cancel(run.id, runs_root=root)
        assert runs.wait(run.id, runs_root=root, timeout=30).state in ("cancelled", "finished")
    with pytest.raises(ValueError, match="positive integer"):
        runs.set_max_concurrent(0, runs_root=root)


# ----------------------------------------------------------------------------- cancel, resume
def test_cancel_keeps_a_checkpoint_and_resume_goes_on_from_it(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.1")
    run = runs.start_run({"epochs": 3}, runs_root=root)
    wait_for(lambda: runs.show(run.id, runs_root=root).epoch, what="a first epoch")
    assert runs.cancel(run.id, runs_root=root).state in ("cancelling", "cancelled")
    cancelled = runs.wait(run.id, runs_root=root, timeout=30)
    assert cancelled.state == "cancelled"
    assert (Path(run.run_dir) / "checkpoints").is_dir()
    assert not (Path(run.run_dir) / "CANCEL").exists()
    stopped_at = epoch_numbers(cancelled)
    assert 1 <= len(stopped_at) < 3

    resumed = runs.resume(run.id, runs_root=root)
    assert resumed.state == "running" and resumed.resume
    done = runs.wait(run.id, runs_root=root, timeout=30)
    assert done.state == "finished" and done.attempts == 2
    assert epoch_numbers(done) == [1, 2, 3]  # each epoch once: it went on, not over
    log = Path(run.run_dir, "train.log").read_text()
    assert "--resume" in log and f"from epoch {len(stopped_at)}" in log


def test_a_cancelled_queued_run_never_starts(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.2")  # the first run outlasts the cancel below
    first = runs.start_run({"epochs": 1}, runs_root=root)
    queued = runs.start_run({"epochs": 2}, runs_root=root)
    assert runs.cancel(queued.id, runs_root=root).state == "cancelled"
    assert runs.wait(first.id, runs_root=root, timeout=30).state == "finished"
    after = runs.show(queued.id, runs_root=root)
    assert after.state == "cancelled" and after.pid is None and after.attempts == 0
    assert not (Path(queued.run_dir) / "metrics.jsonl").exists()
    with pytest.raises(ValueError, match="already ended"):
        runs.cancel(queued.id, runs_root=root)


# ----------------------------------------------------------------------------- failures
def test_kill_9_of_the_training_process_is_a_failure_with_the_reason(root, fake_trainer,
                                                                     monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    run = runs.start_run({"epochs": 5}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).pid, what="the training pid")
    os.kill(pid, signal.SIGKILL)
    # The supervisor records it; show() only reads.
    failed = wait_for(lambda: (r := runs.show(run.id, runs_root=root)).state == "failed" and r,
                      timeout=10, what="state failed")
    assert runs.DIED_REASON in failed.error and "SIGKILL" in failed.error
    assert runs.read_status(run.run_dir)["state"] == "failed"  # the folder says so too


def test_a_run_whose_supervisor_died_too_is_failed_by_reconcile(root, fake_trainer,
                                                                 monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    run = runs.start_run({"epochs": 5}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).pid, what="the training pid")
    supervisor = registry_value(root, "SELECT supervisor_pid FROM runs WHERE id=?", run.id)
    os.kill(supervisor, signal.SIGKILL)  # as after a reboot: nobody left to record the end
    os.kill(pid, signal.SIGKILL)
    wait_dead(supervisor, pid)
    assert runs.show(run.id, runs_root=root).state == "running"  # a read changes nothing
    failed = wait_for(state_is(run.id, root, "failed"), timeout=10, what="state failed")
    assert failed.error == runs.DIED_REASON


def test_a_failed_run_keeps_its_error_and_traceback(root, fake_trainer, tmp_path):
    missing = tmp_path / "no-such-folder"
    run = runs.start_run({"source": "utkface", "root": str(missing), "epochs": 1},
                         runs_root=root)
    failed = runs.wait(run.id, runs_root=root, timeout=30)
    assert failed.state == "failed"
    # The real readers' message: the fake trainer makes the real check.
    assert failed.error == f"FileNotFoundError: utkface: root {str(missing)!r} does not exist"
    assert "Traceback" in failed.traceback
    resumed = runs.resume(run.id, runs_root=root)  # a failed run may be retried
    assert runs.wait(resumed.id, runs_root=root, timeout=30).state == "failed"


def test_a_reused_pid_is_not_the_runs_process():
    me, born = os.getpid(), processes.start_time(os.getpid())
    assert processes.is_alive(me, started=born)
    assert not processes.is_alive(me, started=born - 3600)  # same pid, another process
    assert not processes.is_alive(me, not_after=born - 3600)  # started after the last heartbeat
    assert not processes.is_alive(None) and processes.start_time(None) is None


# ----------------------------------------------------------------------------- delete
def test_delete_refuses_a_running_run_and_removes_an_ended_one(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.2")
    run = runs.start_run({"epochs": 3}, runs_root=root)
    with pytest.raises(ValueError, match="cancel it"):
        runs.delete(run.id, runs_root=root)
    runs.cancel(run.id, runs_root=root)
    runs.wait(run.id, runs_root=root, timeout=30)
    runs.delete(run.id, runs_root=root)
    assert not Path(run.run_dir).exists()
    assert runs.list_runs(runs_root=root) == []
    with pytest.raises(ValueError, match=r"was deleted by os:"):
        runs.show(run.id, runs_root=root)


# ----------------------------------------------------------------------------- registry
LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, pid INTEGER, supervisor_pid INTEGER,
    config TEXT NOT NULL, argv TEXT NOT NULL, cwd TEXT, idempotency_key TEXT,
    config_hash TEXT, resume INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, queued_at REAL, started REAL, ended REAL, heartbeat REAL,
    epoch INTEGER, epochs INTEGER, error TEXT
);
CREATE INDEX IF NOT EXISTS runs_key ON runs(idempotency_key);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def test_an_unversioned_registry_is_migrated_and_keeps_its_runs(root, fake_trainer):
    """A registry written before the schema had a version (user_version 0, argv column)."""
    root.mkdir()
    (root / "old-run").mkdir()
    con = sqlite3.connect(root / "registry.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(LEGACY_SCHEMA)
    con.execute("INSERT INTO runs (id, state, pid, config, argv, created, started, ended, epoch,"
                " epochs) VALUES ('old-run', 'finished', 4242, ?, ?, 100, 101, 160, 2, 2)",
                (json.dumps({"source": "utkface", "epochs": 2}), json.dumps(["--epochs", "2"])))
    con.execute("INSERT INTO settings VALUES ('max_concurrent', '2')")
    con.commit()
    con.close()

    [old] = runs.list_runs(runs_root=root)
    assert (old.id, old.state, old.epoch, old.config["source"]) == ("old-run", "finished", 2,
                                                                   "utkface")
    assert registry_value(root, "PRAGMA user_version") == registry.SCHEMA_VERSION
    columns = {r[1] for r in sqlite3.connect(root / "registry.sqlite").execute(
        "PRAGMA table_info(runs)")}
    assert "argv" not in columns and {"pid_started", "supervisor_started"} <= columns
    assert runs.get_max_concurrent(runs_root=root) == 2
    new = runs.start_run({"epochs": 1}, runs_root=root)  # the migrated file takes new runs
    assert runs.wait(new.id, runs_root=root, timeout=30).state == "finished"


def test_a_registry_newer_than_the_code_is_refused(root):
    root.mkdir()
    con = sqlite3.connect(root / "registry.sqlite")
    con.execute(f"PRAGMA user_version = {registry.SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(RuntimeError, match="newer than this FaceScope"):
        runs.list_runs(runs_root=root)


def test_reading_never_writes(root, fake_trainer, monkeypatch):
    """list_runs/show take no write lock and change nothing: a dead run stays as
    recorded until reconcile(), and with another writer holding the lock they still
    return at once."""
    assert runs.list_runs(runs_root=root) == [] and not root.exists()  # nothing created
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    run = runs.start_run({"epochs": 5}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).pid, what="the training pid")
    supervisor = registry_value(root, "SELECT supervisor_pid FROM runs WHERE id=?", run.id)
    os.kill(supervisor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_dead(supervisor, pid)
    writer = sqlite3.connect(root / "registry.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert [r.state for r in runs.list_runs(runs_root=root)] == ["running"]
        assert runs.show(run.id, runs_root=root).state == "running"
        assert time.monotonic() - started < 2.0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    runs.reconcile(runs_root=root)
    assert runs.show(run.id, runs_root=root).state == "failed"


def test_the_registry_is_rebuilt_from_the_run_folders(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.1")
    done = runs.start_run({"epochs": 1}, runs_root=root)
    runs.wait(done.id, runs_root=root, timeout=30)
    going = runs.start_run({"epochs": 3}, runs_root=root)
    for name in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    assert runs.list_runs(runs_root=root) == []  # a reader adopts nothing...
    runs.reconcile(runs_root=root)  # ...reconcile does
    listed = {r.id: r for r in runs.list_runs(runs_root=root)}
    assert listed[done.id].state == "finished"
    assert listed[done.id].config["epochs"] == 1
    assert listed[going.id].state == "running"
    ended = runs.wait(going.id, runs_root=root, timeout=30)
    assert ended.state == "finished", (ended.error, runs.log_tail(ended.run_dir))


def test_a_foreground_run_under_the_runs_root_is_listed_and_watched(root):
    """A run started with plain `train --run-dir` (no launcher) shows up after a
    reconcile, and is marked failed when its process disappears without a final status."""
    run_dir = root / "by-hand"
    run_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        wait_for(lambda: processes.start_time(proc.pid), what="the process")
        (run_dir / "status.json").write_text(json.dumps(
            {"state": "running", "pid": proc.pid, "heartbeat": time.time(), "epoch": 1,
             "epochs": 4, "batch": 2, "steps_per_epoch": 10, "error": None, "traceback": None}))
        runs.reconcile(runs_root=root)
        run = runs.show("by-hand", runs_root=root)
        assert (run.state, run.pid, run.epoch) == ("running", proc.pid, 1)
    finally:
        proc.kill()
        proc.wait()
    runs.reconcile(runs_root=root)
    assert runs.show("by-hand", runs_root=root).state == "failed"


# ----------------------------------------------------------------------------- progress
def test_progress_reports_fraction_eta_and_speed(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    lines = [{"type": "progress", "epoch": 1, "batch": 5, "steps": 10, "images_per_s": 50.0,
              "time": 1000.0},
             {"type": "epoch", "epoch": 1, "images_per_s": 60.0, "time": 1005.0}]
    (run_dir / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n{torn")
    run = runs.RunInfo(id="r", state="running", pid=1, run_dir=str(run_dir), started=999.0,
                       epoch=1, epochs=4, batch=0, steps_per_epoch=10)
    got = runs.progress(run, now=1005.0)
    assert got["fraction"] == pytest.approx(0.25)
    # 0.125 -> 0.25 of the plan in 5 s: the remaining 0.75 takes 30 s.
    assert got["eta_s"] == pytest.approx(30.0)
    assert got["images_per_s"] == 60.0


def test_epoch_metrics_keep_the_last_line_of_each_epoch(tmp_path):
    lines = [{"type": "epoch", "epoch": 1, "loss": 3.0}, {"type": "epoch", "epoch": 2, "loss": 2.0},
             {"type": "progress", "epoch": 2, "batch": 1}, {"type": "epoch", "epoch": 2, "loss": 1.5}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    assert [m["loss"] for m in runs.epoch_metrics(tmp_path)] == [3.0, 1.5]


# ----------------------------------------------------------------------------- the CLI
def test_cli_show_wait_and_list(root, fake_trainer, capsys, tmp_path):
    run = runs.start_run({"epochs": 1}, runs_root=root)
    assert main(["runs", "wait", run.id, "--timeout", "30", "--runs-root", str(root)]) == 0
    capsys.readouterr()
    assert main(["runs", "show", run.id, "--json", "--runs-root", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {k: shown[k] for k in ("id", "state", "epoch", "error")} == \
        {"id": run.id, "state": "finished", "epoch": 1, "error": None}
    assert shown["run_dir"] == run.run_dir and "pid" in shown
    assert main(["runs", "list", "--json", "--runs-root", str(root)]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [run.id]
    assert main(["runs", "cancel", run.id, "--runs-root", str(root)]) == 2  # already ended
    assert "already ended" in capsys.readouterr().err
    crash = runs.start_run({"source": "utkface", "root": str(tmp_path / "gone")}, runs_root=root)
    assert main(["runs", "wait", crash.id, "--timeout", "30", "--runs-root", str(root)]) == 1


def test_train_background_prints_the_run_id(root, fake_trainer, capsys):
    assert main(["train", "--background", "--json", "--epochs", "1", "--runs-root", str(root)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert Path(printed["run_dir"]) == root / printed["id"]
    assert runs.wait(printed["id"], runs_root=root, timeout=30).state == "finished"
    assert runs.show(printed["id"], runs_root=root).config["epochs"] == 1


def test_a_run_outlives_the_process_that_started_it(root, fake_trainer):
    """As when the Streamlit server stops: the launching process is gone, the run and
    the queue go on, and a new reader picks them up."""
    code = ("import json, sys; from modelkit import runs; "
            "ids = [runs.start_run({'epochs': n}, runs_root=sys.argv[1]).id for n in (2, 1)]; "
            "print(json.dumps(ids))")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(Path(runs.__file__).parents[2]), os.environ["PYTHONPATH"]])})
    first, second = json.loads(out.stdout)
    assert runs.wait(first, runs_root=root, timeout=30).state == "finished"
    assert runs.wait(second, runs_root=root, timeout=30).state == "finished"


# ----------------------------------------------------------------------------- the real trainer
def make_tiny_csv_dataset(folder: Path, *, n: int = 48, size: int = 32) -> Path:
    """``n`` small PNG faces-that-are-not-faces with labels.csv (path, age, gender,
    race, split); returns the CSV."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["path,age,gender,race,split"]
    for i in range(n):
        gender = ("male", "female")[i % 2]
        race = ("White", "Black", "Asian")[i % 3]
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        pixels[..., i % 3] = 200 if gender == "male" else 40
        Image.fromarray(pixels).save(folder / f"{i}.png")
        split = "train" if i < n * 2 // 3 else ("val" if i < n * 5 // 6 else "test")
        rows.append(f"{i}.png,{5 + (i * 7) % 70},{gender},{race},{split}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv"


@pytest.mark.slow
def test_real_run_cancel_keeps_a_checkpoint_and_resume_finishes(root, tmp_path):
    labels_csv = make_tiny_csv_dataset(tmp_path / "data")
    config = {"source": "csv", "root": str(labels_csv.parent), "labels": str(labels_csv),
              "image_size": 32, "batch_size": 4, "limit": 48, "epochs": 4}
    run = runs.start_run(config, runs_root=root)
    wait_for(lambda: runs.show(run.id, runs_root=root).epoch, timeout=240, what="a first epoch")
    runs.cancel(run.id, runs_root=root)
    cancelled = runs.wait(run.id, runs_root=root, timeout=120)
    assert cancelled.state == "cancelled", (cancelled.error, runs.log_tail(cancelled.run_dir))
    checkpoints = Path(run.run_dir) / "checkpoints"
    assert checkpoints.is_dir() and any(checkpoints.iterdir())
    assert 1 <= len(epoch_numbers(cancelled)) < 4

    runs.resume(run.id, runs_root=root)
    done = runs.wait(run.id, runs_root=root, timeout=240)
    assert done.state == "finished", (done.error, runs.log_tail(done.run_dir))
    assert epoch_numbers(done) == [1, 2, 3, 4]
    assert (Path(done.run_dir) / "model.keras").is_file()
