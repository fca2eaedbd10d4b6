"""How far a run is and how fast it goes: fraction done, ETA, images/s, epoch lines.

Everything here is computed from what the run already wrote (``status.json`` as read
into a :class:`~modelkit.runfolder.RunInfo`, and ``metrics.jsonl``), so it costs one
file read and works the same for a run that is live, ended or seen from another machine.
"""

from __future__ import annotations

import os
import time

from modelkit.runfolder import ACTIVE, read_metrics
from modelkit.runs.info import RunInfo


def fraction_done(*, epoch: int, batch: int, epochs: int, steps: int) -> float:
    """Fraction of the planned batches done after ``epoch`` whole epochs and ``batch``
    batches of the next one (by epochs alone when the steps per epoch are unknown)."""
    if not epochs:
        return 0.0
    if not steps:
        return min(max(epoch / epochs, 0.0), 1.0)
    return min(max((epoch * steps + min(batch, steps)) / (epochs * steps), 0.0), 1.0)


def line_fraction(line: dict, *, epochs: int, steps: int) -> float:
    """How far a metrics.jsonl line says the run was (an epoch line: that epoch done; a
    progress line: ``batch`` batches into the 1-based ``epoch``)."""
    if line.get("type") == "progress":
        return fraction_done(epoch=int(line.get("epoch", 1)) - 1,
                             batch=int(line.get("batch") or 0), epochs=epochs, steps=steps)
    return fraction_done(epoch=int(line.get("epoch", 0)), batch=0, epochs=epochs, steps=steps)


def progress(run: RunInfo, *, now: float | None = None) -> dict:
    """Where a run is: ``{"fraction", "eta_s", "images_per_s", "epoch", "epochs", "batch",
    "steps_per_epoch"}``.

    The ETA extrapolates the rate seen since the current attempt's first metrics line,
    so a resumed run is not credited with the epochs its earlier attempts did. It is
    None until two points of the current attempt exist, and for a run not running.
    """
    now = time.time() if now is None else now
    epochs = int(run.epochs or run.config.get("epochs") or 0)
    steps = int(run.steps_per_epoch or 0)
    done = 1.0 if run.state == "finished" else fraction_done(
        epoch=run.epoch or 0, batch=run.batch or 0, epochs=epochs, steps=steps)
    lines = [m for m in read_metrics(run.run_dir) if m.get("type") in ("epoch", "progress")
             and (m.get("time") or 0) >= (run.started or 0)]
    speed = next((m["images_per_s"] for m in reversed(lines) if m.get("images_per_s")), None)
    eta = None
    if run.state in ACTIVE and lines and (now - float(lines[0]["time"])) > 0:
        start = line_fraction(lines[0], epochs=epochs, steps=steps)
        rate = (done - start) / (now - float(lines[0]["time"]))
        if rate > 0:
            eta = (1.0 - done) / rate
    return {"fraction": done, "eta_s": eta, "images_per_s": speed, "epoch": run.epoch or 0,
            "epochs": epochs, "batch": run.batch or 0, "steps_per_epoch": steps}


def epoch_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The epoch lines of ``metrics.jsonl`` in epoch order, the last one per epoch (a
    resumed run that redid an epoch keeps the later one)."""
    by_epoch: dict[int, dict] = {}
    for line in read_metrics(run_dir):
        if line.get("type") == "epoch" and "epoch" in line:
            by_epoch[int(line["epoch"])] = line
    return [by_epoch[k] for k in sorted(by_epoch)]
