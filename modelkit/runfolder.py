"""A run folder as files: its file names, atomic writes, and readers that never tear.

Every package that touches a run folder (training, runs, prediction, curation, the
dashboard, the tests' fake trainer) names its files and writes them through this
module, which imports nothing of the project. docs/CONTRACTS.md, "A run folder",
holds the exact shapes:

- the trainer writes ``status.json`` (atomically, with a heartbeat), appends
  ``metrics.jsonl`` (one JSON object per line, flushed every epoch and every N
  batches), saves ``model.keras``, ``predictions.parquet`` and ``checkpoints/``, and
  resolves ``config.json`` (the settings, the heads it trained, the data it saw);
- the queue writes ``launch.json`` (what was asked for) and ``attempt.json`` (which
  supervisor runs the current attempt); the process logs to ``train.log``;
- ``CANCEL`` asks the run to stop at the next batch.

The writers (:class:`StatusWriter`, :class:`MetricsFile`) are what every process that
reports through a folder uses: both trainers, prediction and ranking jobs.

Readers here never raise on a half-written or missing file: a run is read while it is
being written, so a torn last line is skipped and a missing status is ``None``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.keras"
PREDICTIONS_FILE = "predictions.parquet"
LOG_FILE = "train.log"
LAUNCH_FILE = "launch.json"
ATTEMPT_FILE = "attempt.json"
CANCEL_FILE = "CANCEL"
TENSORBOARD_DIR = "tensorboard"
# model.fit's checkpoints: keras.callbacks.BackupAndRestore's folder (weights with the
# optimizer state, and the completed epoch count).
BACKUP_DIR = Path("checkpoints") / "backup"
# The multi-worker trainer's tf.train.CheckpointManager folder (the chief's copy).
MULTIWORKER_CHECKPOINTS = Path("checkpoints") / "multiworker"
# How often a live process rewrites its status.json heartbeat, in seconds.
HEARTBEAT_S = 0.5

STATES = ("queued", "running", "cancelling", "cancelled", "failed", "finished")
ACTIVE = ("running", "cancelling")
FINAL = ("cancelled", "failed", "finished")
# Seconds without a heartbeat after which a live run is shown as stalled.
STALE_S = 10.0


# ----------------------------------------------------------------------------- JSON files
def read_json(path: str | os.PathLike) -> dict | None:
    """One JSON object from ``path``; None when absent, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_json(path: str | os.PathLike, value: dict) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    path = Path(path)
    tmp = _temp_beside(path)
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def write_parquet(path: str | os.PathLike, frame) -> Path:
    """Write a DataFrame atomically: pages poll these tables by modification time, so
    a reader must never open half a file."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The run's ``status.json``, or None when absent or unreadable."""
    return read_json(Path(run_dir) / STATUS_FILE)


def status_of_attempt(run_dir: str | os.PathLike, *, started: float | None) -> dict | None:
    """``status.json`` when the attempt that began at ``started`` wrote it.

    A status whose heartbeat is older than the attempt is the previous attempt's (a
    resumed run still holds its ``cancelled`` status until the trainer starts), so it
    does not count.
    """
    status = read_status(run_dir)
    if status is None:
        return None
    if started and float(status.get("heartbeat") or 0) < float(started) - 1:
        return None
    return status


def blank_status(*, state: str, pid: int | None = None, epoch: int | None = None,
                 epochs: int | None = None) -> dict:
    """A status.json with every field of the contract, for the launcher's own writes
    (a run cancelled while queued, a trainer that died without a final status)."""
    return {"state": state, "pid": pid, "heartbeat": None, "epoch": epoch or 0,
            "epochs": epochs, "batch": 0, "steps_per_epoch": None, "error": None,
            "traceback": None}


# ----------------------------------------------------------------------------- streams
def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All lines of ``metrics.jsonl`` (epoch and progress); a torn last line is skipped."""
    try:
        text = (Path(run_dir) / METRICS_FILE).read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                out.append(item)
    return out


def log_tail(run_dir: str | os.PathLike, *, lines: int = 40) -> str:
    """The last ``lines`` lines of ``train.log``, read from the end (logs grow)."""
    path = Path(run_dir) / LOG_FILE
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 200 * lines))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def request_cancel(run_dir: str | os.PathLike, *, when: str) -> None:
    """Write the ``CANCEL`` file the trainer checks at every batch boundary."""
    (Path(run_dir) / CANCEL_FILE).write_text(f"cancel requested at {when}\n")


def clear_cancel(run_dir: str | os.PathLike) -> None:
    """Remove a ``CANCEL`` file (the attempt ended, or the run is resumed)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(run_dir) / CANCEL_FILE).unlink()


def cancel_requested(run_dir: str | os.PathLike) -> bool:
    """Whether a ``CANCEL`` file asks this run to stop at the next batch."""
    return (Path(run_dir) / CANCEL_FILE).exists()


def read_config(run_dir: str | os.PathLike) -> dict:
    """The run's ``config.json`` as written; ``{}`` when it has none or it is unreadable."""
    return read_json(Path(run_dir) / CONFIG_FILE) or {}


# ------------------------------------------------------------------------ metrics.jsonl
class MetricsFile:
    """``metrics.jsonl``: one JSON object per line, flushed as it is written, so the
    dashboard reads progress while the run trains."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / METRICS_FILE

    def append(self, line: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def truncate(self, *, after_epoch: int) -> None:
        """Drop the lines of epochs after ``after_epoch``: the work a resume redoes,
        so each epoch appears once."""
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("epoch", 0) <= after_epoch]
        self.path.write_text("".join(line + "\n" for line in keep))


# -------------------------------------------------------------------------- status.json
class StatusWriter:
    """Keeps ``status.json`` current: fields set by the trainer, the heartbeat
    rewritten every ``HEARTBEAT_S`` seconds by a daemon thread until :meth:`close`."""

    def __init__(self, run_dir: Path, *, epochs: int):
        self.path = run_dir / STATUS_FILE
        self.fields = {"state": "running", "pid": os.getpid(), "heartbeat": time.time(),
                       "epoch": 0, "epochs": epochs, "batch": 0, "steps_per_epoch": 0,
                       "error": None, "traceback": None}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.write()
        self._thread = threading.Thread(target=self._beat, name="status-heartbeat", daemon=True)
        self._thread.start()

    def update(self, **fields) -> None:
        with self._lock:
            self.fields.update(fields)

    def write(self) -> None:
        with self._lock:
            self.fields["heartbeat"] = time.time()
            write_json(self.path, self.fields)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.write()
            except OSError:  # run folder deleted under us: nothing left to report to
                return

    def close(self, **final) -> None:
        """Stop the heartbeat and write the final state (``state=...``)."""
        self._stop.set()
        self._thread.join()
        self.update(**final)
        self.write()

    @contextlib.contextmanager
    def failing_on_error(self) -> Iterator[StatusWriter]:
        """On any exception inside: close as ``failed`` with the error and its
        traceback, then re-raise."""
        try:
            yield self
        except BaseException as exc:
            self.close(state="failed", error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())
            raise
