"""The trainer's writes to its run folder (docs/CONTRACTS.md, "A run folder").

Both trainers write the same files through this module: ``status.json`` (kept
current by a heartbeat thread, so a watcher tells a live run from a dead one even
during a long step), ``metrics.jsonl`` lines, the resolved ``config.json``,
``predictions.parquet``, and the checkpoint folders under ``checkpoints/``. It
imports no TensorFlow.

Example::

    status = StatusWriter(run_dir, epochs=config.epochs)
    with status.failing_on_error():      # status.json says "failed" if this raises
        ...
    status.close(state="finished")
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit.config import TrainConfig
from modelkit.runfolder import (
    CONFIG_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    STATUS_FILE,
    write_json,
    write_parquet,
)

HEARTBEAT_S = 0.5


def json_number(value) -> float | None:
    """A metric as a JSON number; NaN and infinities (not JSON) become null."""
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


# ------------------------------------------------------------------------- the config
def run_config(config: TrainConfig, *, run_dir: Path, resume: bool) -> TrainConfig:
    """The settings a run trains with: on ``resume`` the run's own ``config.json``
    wins, except ``epochs`` (raise it to train further); paths are made absolute so
    the config reproduces the run from any working directory."""
    saved = run_dir / CONFIG_FILE
    if resume and saved.exists():
        config = dataclasses.replace(TrainConfig.load(saved), epochs=config.epochs)
    return config.with_absolute_paths()


def write_run_config(run_dir: Path, config: TrainConfig, *, race_classes: list[str],
                     age_is_range: bool, split_sizes: dict[str, int], **extra) -> None:
    """``config.json``: the settings, plus what the data resolved to (race classes,
    age given as ranges, images per split) and any ``extra`` entries."""
    resolved = config.to_dict() | {
        "race_classes": list(race_classes), "age_is_range": bool(age_is_range),
        **{f"n_{split}": int(n) for split, n in split_sizes.items()}, **extra}
    write_json(run_dir / CONFIG_FILE, resolved)


def write_predictions(run_dir: Path, frame: pd.DataFrame) -> Path:
    """``predictions.parquet`` (columns of docs/CONTRACTS.md), written atomically: the
    pages poll it by modification time while a run ends."""
    return write_parquet(run_dir / PREDICTIONS_FILE, frame)


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


def epoch_line(*, epoch: int, images_per_s: float, logs: dict, **extra) -> dict:
    """An epoch line: the 1-based epoch, the time, training images/s, ``extra``
    entries as given, and the scalar logs under their own names (Keras's ``loss``,
    ``val_gender_accuracy``...; null where a metric had nothing to measure)."""
    return {"type": "epoch", "epoch": epoch, "time": time.time(), "images_per_s": images_per_s,
            **extra, **{k: None if v is None else json_number(v) for k, v in logs.items()
                        if v is None or np.ndim(v) == 0}}


def progress_line(*, epoch: int, batch: int, steps: int, loss, images_per_s: float) -> dict:
    """A progress line, written every ``progress_every`` batches."""
    return {"type": "progress", "epoch": epoch, "batch": batch, "steps": steps,
            "loss": json_number(loss), "images_per_s": images_per_s, "time": time.time()}


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
