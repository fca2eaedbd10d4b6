"""How long a run will take, before it starts: measured on the finished runs like it.

Nothing here guesses a speed. The estimate reads what earlier finished runs with the
same backbone, image size, batch size and precision wrote (``status.json``'s
``wall_seconds`` and the steps they trained), takes their median wall seconds per
trained image, and multiplies it by the images the new run plans to train (the balance
plan's images per epoch times the epochs). Reading the data and writing the predictions
are added as those runs took them. With no such run there is no estimate: a different
backbone or precision is a different speed, and a made-up figure would mislead.

Example::

    from modelkit import runs
    from modelkit.runs.estimate import estimate_run, images_per_epoch
    guess = estimate_run(config, images_per_epoch=images_per_epoch(manifest, config),
                         runs=runs.list_runs())
    guess.seconds if guess else "no measurement yet"
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd

from modelkit.balance import TRAIN_SPLIT, split_part, training_plan
from modelkit.config import TrainConfig
from modelkit.runfolder import read_status
from modelkit.runs.info import RunInfo

# What sets a step's speed; the rest of a config (lr, loss weights ...) does not.
SPEED_KEYS = ("backbone", "image_size", "batch_size")


@dataclass(frozen=True)
class RunEstimate:
    """A planned run's wall time from ``train`` to ``predictions.parquet``.

    ``training_s`` is the planned images times the basis runs' median seconds per
    trained image; ``low_s``/``high_s`` the training seconds at their fastest and slowest
    rate; ``other_s`` the median of their data and predictions phases."""

    images: int
    seconds_per_image: float
    training_s: float
    low_s: float
    high_s: float
    other_s: float
    basis: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return self.training_s + self.other_s


def images_per_epoch(manifest: pd.DataFrame, config: TrainConfig) -> int:
    """The images one epoch trains on under ``config``'s balance plan (the train split
    as it is without one), as ``train`` plans it."""
    plan = training_plan(manifest, balance=config.balance, target=config.target,
                         max_repeat=config.max_repeat, seed=config.seed)
    return plan.images_per_epoch if plan is not None else len(split_part(manifest, TRAIN_SPLIT))


def same_speed(run: RunInfo, config: TrainConfig) -> bool:
    """Whether ``run`` trained at the speed ``config`` will: a finished run with the same
    ``SPEED_KEYS`` and precision (``auto`` matches an earlier ``auto`` run, which picked
    for the same backbone on this machine; an explicit one matches the precision used)."""
    done = run.config or {}
    if run.state != "finished" or any(done.get(k) != getattr(config, k) for k in SPEED_KEYS):
        return False
    if config.precision == "auto":
        return done.get("precision", "auto") == "auto"
    return done.get("precision_used", done.get("precision")) == config.precision


def estimate_run(config: TrainConfig, *, images_per_epoch: int,
                 runs: list[RunInfo]) -> RunEstimate | None:
    """The estimate for ``config`` from the matching runs among ``runs``, or None when
    none of them measured this speed.

    Raises:
        ValueError: ``images_per_epoch`` is not positive.
    """
    if images_per_epoch <= 0:
        raise ValueError(f"images_per_epoch must be positive; got {images_per_epoch}")
    rates, others, basis = [], [], []
    for run in runs:
        if not same_speed(run, config) or run.attempts > 1:
            continue  # a resumed run's phase times cover its last attempt only
        walls = (read_status(run.run_dir) or {}).get("wall_seconds") or {}
        trained = (run.epochs or 0) * (run.steps_per_epoch or 0) * int(run.config["batch_size"])
        if not walls.get("training") or trained <= 0:
            continue  # an older run without its phase times
        rates.append(float(walls["training"]) / trained)
        others.append(float(walls.get("total", walls["training"])) - float(walls["training"]))
        basis.append(run.id)
    if not rates:
        return None
    images = images_per_epoch * config.epochs
    rate = statistics.median(rates)
    return RunEstimate(images=images, seconds_per_image=rate, training_s=images * rate,
                       low_s=images * min(rates), high_s=images * max(rates),
                       other_s=statistics.median(others), basis=tuple(basis))


def describe(estimate: RunEstimate | None, config: TrainConfig) -> str:
    """One line for the Train page and the terminal."""
    if estimate is None:
        return (f"No finished run with {config.backbone} at {config.image_size} px, batch "
                f"{config.batch_size} and precision {config.precision} to measure from yet: "
                "the first one's time is the estimate for the next.")
    runs = len(estimate.basis)
    spread = ("" if runs == 1 else
              f" (training {_minutes(estimate.low_s)} to {_minutes(estimate.high_s)})")
    return (f"About {_minutes(estimate.seconds)}{spread}: {estimate.images:,} training images "
            f"({config.epochs} epochs) at {1 / estimate.seconds_per_image:,.0f} images/s, "
            f"as measured on {runs} earlier run{'s' if runs > 1 else ''} like it, plus "
            f"{_minutes(estimate.other_s)} to read the data and write the predictions. "
            "A set read for the first time also decodes every image once.")


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
