"""The launcher, registry and queue of modelkit.runs.

Fast tests drive the real launcher, supervisor processes and SQLite registry with a
stand-in trainer (``$FACESCOPE_TRAIN_COMMAND``) that keeps the run-folder contract of
docs/CONTRACTS.md and starts in milliseconds. The slow tests at the end do the same
with the real ``python -m modelkit train`` on a tiny CSV dataset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelkit import runs
from modelkit.__main__ import main

FAKE_TRAINER = r'''
"""Stand-in for `python -m modelkit train`: same files, same CANCEL/--resume rules."""
import argparse, json, os, sys, time, traceback
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("command")
p.add_argument("--run-dir", required=True)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--resume", action="store_true")
p.add_argument("--source", default="synthetic")
args, _ = p.parse_known_args()
run = Path(args.run_dir)
run.mkdir(parents=True, exist_ok=True)
steps = 4
batch_s = float(os.environ.get("FAKE_BATCH_S", "0.05"))
ckpt = run / "checkpoints" / "last.json"

def status(state, epoch, batch, error=None, tb=None):
    tmp = run / ".status.tmp"
    tmp.write_text(json.dumps({"state": state, "pid": os.getpid(), "heartbeat": time.time(),
                               "epoch": epoch, "epochs": args.epochs, "batch": batch,
                               "steps_per_epoch": steps, "error": error, "traceback": tb}))
    os.replace(tmp, run / "status.json")

def line(**kv):
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**kv, "time": time.time()}) + "\n")

epoch = json.loads(ckpt.read_text())["epoch"] if args.resume and ckpt.exists() else 0
print("fake trainer from epoch", epoch, flush=True)
status("running", epoch, 0)
try:
    if args.source == "crash":
        raise RuntimeError("the dataset exploded")
    while epoch < args.epochs:
        for b in range(1, steps + 1):
            time.sleep(batch_s)
            if (run / "CANCEL").exists():
                ckpt.parent.mkdir(exist_ok=True)
                ckpt.write_text(json.dumps({"epoch": epoch}))
                status("cancelled", epoch, b)
                sys.exit(0)
            line(type="progress", epoch=epoch + 1, batch=b, steps=steps, loss=1.0 / b,
                 images_per_s=100.0)
            status("running", epoch, b)
        epoch += 1
        ckpt.parent.mkdir(exist_ok=True)
        ckpt.write_text(json.dumps({"epoch": epoch}))
        line(type="epoch", epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch,
             gender_accuracy=0.5, val_gender_accuracy=0.5 + epoch / 100, val_age_mae=10 - epoch,
             images_per_s=100.0)
    status("finished", epoch, steps)
except Exception as exc:
    status("failed", epoch, 0, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    sys.exit(1)
'''


@pytest.fixture
def root(tmp_path):
    return tmp_path / "runs"


def install_fake_trainer(tmp_path, monkeypatch):
    """Make the launcher start the stand-in trainer instead of `python -m modelkit train`."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    monkeypatch.setenv("FACESCOPE_TRAIN_COMMAND", json.dumps([sys.executable, str(script)]))
    return script


@pytest.fixture
def fake_trainer(tmp_path, monkeypatch):
    script = install_fake_trainer(tmp_path, monkeypatch)
    monkeypatch.setattr(runs, "_train_parser", lambda: None)
    return script


def wait_for(predicate, *, timeout: float = 20.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def state_is(run_id, root, *states):
    def check():
        run = runs.show(run_id, runs_root=root)
        return run if run.state in states else None
    return check


def epoch_numbers(run):
    return [m["epoch"] for m in runs.epoch_metrics(run.run_dir)]


def test_a_run_starts_in_the_background_and_finishes(root, fake_trainer):
    run = runs.start_run({"source": "csv", "epochs": 2}, runs_root=root)
    assert run.state == "running" and Path(run.run_dir).parent == root
    done = runs.wait(run.id, runs_root=root, timeout=20)
    assert done.state == "finished" and done.error is None
    assert done.epoch == 2 and epoch_numbers(done) == [1, 2]
    assert "fake trainer from epoch 0" in runs.log_tail(done.run_dir)
    assert done.ended >= done.started >= done.created


def test_a_double_submit_starts_one_run(root, fake_trainer):
    config = {"source": "csv", "epochs": 1}
    first = runs.start_run(config, runs_root=root)
    second = runs.start_run(dict(config), runs_root=root)
    assert second.id == first.id
    keyed = runs.start_run({"source": "csv", "epochs": 3}, runs_root=root, idempotency_key="k1")
    again = runs.start_run({"source": "csv", "epochs": 3}, runs_root=root, idempotency_key="k1")
    assert again.id == keyed.id
    assert len(runs.list_runs(runs_root=root)) == 2


def test_a_second_start_waits_in_the_queue_then_runs(root, fake_trainer):
    first = runs.start_run({"source": "csv", "epochs": 2}, runs_root=root)
    second = runs.start_run({"source": "csv", "epochs": 1}, runs_root=root)
    assert (first.state, second.state) == ("running", "queued")
    assert second.queue_position == 1 and second.pid is None
    # The first run's supervisor starts the second when the first ends: no reader needed.
    con = runs._connect(root)
    wait_for(lambda: con.execute("SELECT state FROM runs WHERE id=?",
                                 (second.id,)).fetchone()["state"] in ("running", "finished"),
             what="the queued run to start")
    con.close()
    assert runs.show(first.id, runs_root=root).state == "finished"
    assert runs.wait(second.id, runs_root=root, timeout=20).state == "finished"


def test_a_raised_limit_runs_two_at_once(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.3")
    runs.set_max_concurrent(2, runs_root=root)
    a = runs.start_run({"source": "csv", "epochs": 1}, runs_root=root)
    b = runs.start_run({"source": "csv", "epochs": 2}, runs_root=root)
    assert (a.state, b.state) == ("running", "running")
    for run in (a, b):
        runs.cancel(run.id, runs_root=root)
        assert runs.wait(run.id, runs_root=root, timeout=20).state in ("cancelled", "finished")


def test_cancel_keeps_a_checkpoint_and_resume_goes_on_from_it(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.1")
    run = runs.start_run({"source": "csv", "epochs": 3}, runs_root=root)
    wait_for(lambda: runs.show(run.id, runs_root=root).epoch, what="a first epoch")
    assert runs.cancel(run.id, runs_root=root).state in ("cancelling", "cancelled")
    cancelled = runs.wait(run.id, runs_root=root, timeout=20)
    assert cancelled.state == "cancelled"
    assert (Path(run.run_dir) / "checkpoints").is_dir()
    assert not (Path(run.run_dir) / "CANCEL").exists()
    stopped_at = epoch_numbers(cancelled)
    assert 1 <= len(stopped_at) < 3

    resumed = runs.resume(run.id, runs_root=root)
    assert resumed.state == "running" and resumed.resume
    done = runs.wait(run.id, runs_root=root, timeout=20)
    assert done.state == "finished" and done.attempts == 2
    assert epoch_numbers(done) == [1, 2, 3]  # each epoch once: it went on, not over
    assert "--resume" in Path(run.run_dir, "train.log").read_text()
    assert f"from epoch {len(stopped_at)}" in Path(run.run_dir, "train.log").read_text()


def test_a_cancelled_queued_run_never_starts(root, fake_trainer):
    first = runs.start_run({"source": "csv", "epochs": 1}, runs_root=root)
    queued = runs.start_run({"source": "csv", "epochs": 2}, runs_root=root)
    assert runs.cancel(queued.id, runs_root=root).state == "cancelled"
    assert runs.wait(first.id, runs_root=root, timeout=20).state == "finished"
    after = runs.show(queued.id, runs_root=root)
    assert after.state == "cancelled" and after.pid is None and after.attempts == 0
    assert not (Path(queued.run_dir) / "metrics.jsonl").exists()


def test_kill_9_of_the_training_process_is_a_failure_with_the_reason(root, fake_trainer,
                                                                     monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    run = runs.start_run({"source": "csv", "epochs": 5}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).pid, what="the training pid")
    os.kill(pid, signal.SIGKILL)
    failed = wait_for(state_is(run.id, root, "failed"), timeout=5, what="state failed")
    assert runs.DIED_REASON in failed.error and "SIGKILL" in failed.error
    assert runs.read_status(run.run_dir)["state"] == "failed"  # the folder says so too


def test_a_run_whose_supervisor_died_too_is_found_by_any_reader(root, fake_trainer,
                                                                monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    run = runs.start_run({"source": "csv", "epochs": 5}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).pid, what="the training pid")
    con = runs._connect(root)
    supervisor = con.execute("SELECT supervisor_pid FROM runs WHERE id=?", (run.id,)).fetchone()[0]
    con.close()
    os.kill(supervisor, signal.SIGKILL)  # as after a reboot: nobody left to record the end
    os.kill(pid, signal.SIGKILL)
    failed = wait_for(state_is(run.id, root, "failed"), timeout=5, what="state failed")
    assert failed.error == runs.DIED_REASON


def test_a_failed_run_keeps_its_error_and_traceback(root, fake_trainer):
    run = runs.start_run({"source": "crash", "epochs": 1}, runs_root=root)
    failed = runs.wait(run.id, runs_root=root, timeout=20)
    assert failed.state == "failed"
    assert failed.error == "RuntimeError: the dataset exploded"
    assert "Traceback" in failed.traceback
    resumed = runs.resume(run.id, runs_root=root)  # a failed run may be retried
    assert runs.wait(resumed.id, runs_root=root, timeout=20).state == "failed"


def test_delete_refuses_a_running_run_and_removes_an_ended_one(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.2")
    run = runs.start_run({"source": "csv", "epochs": 3}, runs_root=root)
    with pytest.raises(ValueError, match="cancel it"):
        runs.delete(run.id, runs_root=root)
    runs.cancel(run.id, runs_root=root)
    runs.wait(run.id, runs_root=root, timeout=20)
    runs.delete(run.id, runs_root=root)
    assert not Path(run.run_dir).exists()
    assert runs.list_runs(runs_root=root) == []
    with pytest.raises(ValueError, match="no run"):
        runs.show(run.id, runs_root=root)


def test_the_registry_is_rebuilt_from_the_run_folders(root, fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.1")
    done = runs.start_run({"source": "csv", "epochs": 1}, runs_root=root)
    runs.wait(done.id, runs_root=root, timeout=20)
    going = runs.start_run({"source": "csv", "epochs": 3}, runs_root=root)
    for name in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    listed = {r.id: r for r in runs.list_runs(runs_root=root)}
    assert listed[done.id].state == "finished"
    assert listed[done.id].config == {"source": "csv", "epochs": 1}
    assert listed[going.id].state == "running"
    ended = runs.wait(going.id, runs_root=root, timeout=20)
    assert ended.state == "finished", (ended.error, runs.log_tail(ended.run_dir))


def test_a_foreground_run_under_the_runs_root_is_listed_and_watched(root):
    """A run started with plain `train --run-dir` (no launcher) shows up, and is marked
    failed when its process disappears without a final status."""
    run_dir = root / "by-hand"
    run_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "--run-dir", str(run_dir)])
    try:
        (run_dir / "status.json").write_text(json.dumps(
            {"state": "running", "pid": proc.pid, "heartbeat": time.time(), "epoch": 1,
             "epochs": 4, "batch": 2, "steps_per_epoch": 10, "error": None, "traceback": None}))
        run = runs.show("by-hand", runs_root=root)
        assert (run.state, run.pid, run.epoch) == ("running", proc.pid, 1)
    finally:
        proc.kill()
        proc.wait()
    assert runs.show("by-hand", runs_root=root).state == "failed"


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


def test_argv_from_config_uses_the_train_commands_flags():
    parser = runs._train_parser()
    if parser is None:
        pytest.skip("modelkit.cli.train has no add_train_arguments yet")
    argv = runs.argv_from_config({"source": "csv", "image_size": 32, "epochs": 2,
                                  "limit": None, "run_dir": "ignored"})
    assert argv == ["--source", "csv", "--image-size", "32", "--epochs", "2"]
    args = parser.parse_args(argv)
    assert (args.source, args.image_size, args.epochs) == ("csv", 32, 2)
    with pytest.raises(ValueError, match="no argument 'colour'"):
        runs.argv_from_config({"colour": "red"})


def test_cli_show_wait_and_list(root, fake_trainer, capsys):
    run = runs.start_run({"source": "csv", "epochs": 1}, runs_root=root)
    assert main(["runs", "wait", run.id, "--timeout", "20", "--runs-root", str(root)]) == 0
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
    crash = runs.start_run({"source": "crash", "epochs": 1}, runs_root=root)
    assert main(["runs", "wait", crash.id, "--timeout", "20", "--runs-root", str(root)]) == 1


def test_a_run_outlives_the_process_that_started_it(root, fake_trainer):
    """As when the Streamlit server stops: the launching process is gone, the run and
    the queue go on, and a new reader picks them up."""
    code = ("import json, sys; from modelkit import runs; "
            "ids = [runs.start_run({'source': 'csv', 'epochs': n}, runs_root=sys.argv[1]).id "
            "for n in (2, 1)]; print(json.dumps(ids))")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(Path(runs.__file__).parents[1])})
    first, second = json.loads(out.stdout)
    assert runs.wait(first, runs_root=root, timeout=20).state == "finished"
    assert runs.wait(second, runs_root=root, timeout=20).state == "finished"


def test_train_background_prints_the_run_id(root, fake_trainer, capsys):
    import argparse

    assert runs.handle_background(argparse.Namespace(background=False, source="csv")) is None
    args = argparse.Namespace(background=True, json=True, source="csv", epochs=1, run_dir=None,
                              resume=False, runs_root=str(root))
    assert runs.handle_background(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert Path(printed["run_dir"]) == root / printed["id"]
    assert runs.wait(printed["id"], runs_root=root, timeout=20).state == "finished"
    assert runs.show(printed["id"], runs_root=root).config == {"source": "csv", "epochs": 1}


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


def real_trainer_ready() -> bool:
    return runs._train_parser() is not None


needs_trainer = pytest.mark.skipif(not real_trainer_ready(),
                                   reason="modelkit.cli.train has no add_train_arguments yet")


@pytest.fixture
def tiny_config(tmp_path):
    labels_csv = make_tiny_csv_dataset(tmp_path / "data")
    return {"source": "csv", "labels": str(labels_csv), "backbone": "small_cnn",
            "image_size": 32, "batch_size": 8, "limit": 48, "epochs": 2}


@pytest.mark.slow
@needs_trainer
def test_real_run_finishes(root, tiny_config):
    run = runs.start_run(tiny_config, runs_root=root)
    done = runs.wait(run.id, runs_root=root, timeout=240)
    assert done.state == "finished", (done.error, runs.log_tail(done.run_dir))
    assert epoch_numbers(done) == [1, 2]
    assert (Path(done.run_dir) / "model.keras").is_file()


@pytest.mark.slow
@needs_trainer
def test_real_run_cancel_keeps_a_checkpoint_and_resume_finishes(root, tiny_config):
    run = runs.start_run({**tiny_config, "epochs": 4, "batch_size": 4}, runs_root=root)
    wait_for(lambda: runs.show(run.id, runs_root=root).epoch, timeout=240, what="a first epoch")
    runs.cancel(run.id, runs_root=root)
    cancelled = runs.wait(run.id, runs_root=root, timeout=120)
    assert cancelled.state == "cancelled", (cancelled.error, runs.log_tail(cancelled.run_dir))
    checkpoints = Path(run.run_dir) / "checkpoints"
    assert checkpoints.is_dir() and any(checkpoints.iterdir())
    before = epoch_numbers(cancelled)
    assert 1 <= len(before) < 4

    runs.resume(run.id, runs_root=root)
    done = runs.wait(run.id, runs_root=root, timeout=240)
    assert done.state == "finished", (done.error, runs.log_tail(done.run_dir))
    lines = [m["epoch"] for m in runs.read_metrics(run.run_dir) if m.get("type") == "epoch"]
    assert lines == [1, 2, 3, 4]  # each epoch once: resumed, not restarted


@pytest.mark.slow
@needs_trainer
def test_real_run_killed_is_failed_within_seconds(root, tiny_config):
    run = runs.start_run({**tiny_config, "epochs": 50}, runs_root=root)
    pid = wait_for(lambda: runs.show(run.id, runs_root=root).heartbeat
                   and runs.show(run.id, runs_root=root).pid, timeout=240, what="a heartbeat")
    os.kill(pid, signal.SIGKILL)
    failed = wait_for(state_is(run.id, root, "failed"), timeout=10, what="state failed")
    assert runs.DIED_REASON in failed.error


@pytest.mark.slow
@needs_trainer
def test_real_runs_queue_one_at_a_time(root, tiny_config):
    first = runs.start_run({**tiny_config, "epochs": 1}, runs_root=root)
    second = runs.start_run({**tiny_config, "epochs": 1, "seed": 1}, runs_root=root)
    assert (first.state, second.state) == ("running", "queued")
    assert runs.wait(first.id, runs_root=root, timeout=240).state == "finished"
    assert runs.wait(second.id, runs_root=root, timeout=240).state == "finished"
    assert runs.show(second.id, runs_root=root).started >= runs.show(first.id, runs_root=root).ended
