"""A run folder as files: what a run's folder says, and how to read it safely.

The training process writes ``status.json`` (atomically), appends ``metrics.jsonl``
(one JSON object per line, flushed every epoch and every N batches) and ``train.log``;
the launcher writes ``launch.json`` (what was asked for) and ``attempt.json`` (which
supervisor runs the current attempt). docs/CONTRACTS.md holds the exact shapes.

Readers here never raise on a half-written or missing file: a run is read while it is
being written, so a torn last line is skipped and a missing status is ``None``.
:class:`RunInfo` is what the registry and a folder say about one run together.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATES = ("queued", "running", "cancelling", "cancelled", "failed", "finished")
ACTIVE = ("running", "cancelling")
FINAL = ("cancelled", "failed", "finished")
# Seconds without a heartbeat after which a live run is shown as stalled.
STALE_S = 10.0


@dataclass
class RunInfo:
    """One run as the registry and its folder describe it (what list/show return).

    ``config`` is the submitted :class:`~modelkit.config.TrainConfig` as a dict,
    overlaid with the run's ``config.json`` once the trainer resolved it (which adds
    ``race_classes``, ``n_train`` ...). ``epoch`` counts completed epochs; ``batch``
    is the batch reached in the epoch under way. ``experiment`` is the id shared by the
    two runs of a remedy experiment and ``experiment_role`` this run's part in it
    (``treatment`` or ``control``, see :mod:`modelkit.runs.experiments`); None otherwise.
    ``kind`` is ``train``, or ``predict`` for a prediction job (:mod:`modelkit.runs.jobs`)
    whose ``parent`` is the id of the run whose model it runs.
    """

    id: str
    state: str
    pid: int | None
    run_dir: str
    config: dict = field(default_factory=dict)
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    heartbeat: float | None = None
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    steps_per_epoch: int | None = None
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    resume: bool = False
    queue_position: int | None = None
    stalled: bool = False
    experiment: str | None = None
    experiment_role: str | None = None
    kind: str = "train"
    parent: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def is_final(self) -> bool:
        return self.state in FINAL


# ----------------------------------------------------------------------------- JSON files
def read_json(path: str | os.PathLike) -> dict | None:
    """One JSON object from ``path``; None when absent, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: str | os.PathLike, value: dict) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The run's ``status.json``, or None when absent or unreadable."""
    return read_json(Path(run_dir) / "status.json")


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
        text = (Path(run_dir) / "metrics.jsonl").read_text()
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
    path = Path(run_dir) / "train.log"
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
    (Path(run_dir) / "CANCEL").write_text(f"cancel requested at {when}\n")


def clear_cancel(run_dir: str | os.PathLike) -> None:
    """Remove a ``CANCEL`` file (the attempt ended, or the run is resumed)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(run_dir) / "CANCEL").unlink()
