"""What the trainers write into a run folder beyond its generic files
(docs/CONTRACTS.md, "A run folder"): the config a run trains with and its resolved
``config.json``, ``predictions.parquet``, and the ``metrics.jsonl`` lines of an epoch
and of progress. Both trainers write through this module and
:mod:`modelkit.runfolder` (``status.json``'s heartbeat, the metrics file). It imports
no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit.config import RESOLVED_KEYS, TrainConfig, check_keys
from modelkit.labels import HEADS
from modelkit.runfolder import (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    write_json,
    write_parquet,
)


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
                     heads, age_is_range: bool, split_sizes: dict[str, int], **extra) -> None:
    """``config.json``: the settings, plus what the data resolved to (race classes, the
    heads trained, age given as ranges, images per split) and any ``extra`` entries,
    each one of ``RESOLVED_KEYS`` (what a config file may hold beside the settings).

    Raises:
        ValueError: an extra entry that ``RESOLVED_KEYS`` does not name.
    """
    resolved = {"race_classes": list(race_classes),
                "heads": [h for h in HEADS if h in set(heads)],
                "age_is_range": bool(age_is_range),
                **{f"n_{split}": int(n) for split, n in split_sizes.items()}, **extra}
    check_keys(resolved, allowed=RESOLVED_KEYS, what="resolved config entry")
    write_json(run_dir / CONFIG_FILE, config.to_dict() | resolved)


def write_predictions(run_dir: Path, frame: pd.DataFrame) -> Path:
    """``predictions.parquet`` (columns of docs/CONTRACTS.md), written atomically: the
    pages poll it by modification time while a run ends."""
    return write_parquet(run_dir / PREDICTIONS_FILE, frame)


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
