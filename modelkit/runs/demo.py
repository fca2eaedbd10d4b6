"""The newcomer's first minute: a tiny demo run (or a demo experiment) on the synthetic set.

On a fresh install the Evaluate, Explain and Compare pages have nothing to show. Their
empty state offers one button that starts :data:`DEMO` in the background (:data:`DEMO_TIME`
on a 2-core CPU; docs/BENCHMARKS.md) or, for Compare, a demo experiment:
the demo rebalanced by race against its control without rebalancing, one after the other.
They train through the launcher like any run, so the Train page watches them.

A second click while a demo is queued or training returns that demo instead of
starting another (and the launcher folds a double click into one run anyway).

Example::

    from modelkit.runs import demo
    run = demo.start_demo()            # or demo.start_demo_experiment() -> [run, control]
"""

from __future__ import annotations

import dataclasses
import os
import secrets

from modelkit.config import TrainConfig
from modelkit.runs import experiments, launcher, registry
from modelkit.runfolder import FINAL
from modelkit.runs.info import RunInfo

# The demo: 3,000 synthetic faces (train 80 %, 75 steps an epoch), 48 px, 10 epochs,
# small_cnn, no weight averaging. Chosen on the test split (docs/BENCHMARKS.md §16): 800
# faces for 3 epochs learned nothing usable (gender 0.75, age MAE 12.6 against 13.3 for
# always answering the median); 2,000 for 8 epochs missed gender 0.85; 3,000 for 10
# epochs reached gender 0.89, race 0.82, age MAE 8.1. The weight average cost 12 % more
# time there and bought nothing (0.889, 0.825, 8.45), so it is off.
DEMO = TrainConfig(source="synthetic", backbone="small_cnn", image_size=48, epochs=10,
                   batch_size=32, limit=3000, ema=False)
# Wall clock on 2 CPU cores, measured (docs/BENCHMARKS.md §16); the empty pages say it.
DEMO_TIME = "about 1.5 minutes"
DEMO_EXPERIMENT_TIME = "about 4 minutes"
# The demo experiment: does rebalancing by race change the per-race errors?
DEMO_TREATMENT = dataclasses.replace(DEMO, balance="race")
DEMO_CONTROL: dict[str, object] = {"balance": "none"}


def _same(run: RunInfo, config: TrainConfig) -> bool:
    try:
        return TrainConfig.from_dict(run.config) == config.with_absolute_paths()
    except (TypeError, ValueError):  # not a training run's config (another kind of job)
        return False


def pending_demos(*, runs_root: str | os.PathLike | None = None,
                  experiment: bool = False) -> list[RunInfo]:
    """The demo runs still queued or training (for an experiment: both of its runs,
    treatment first); empty when none is."""
    found = registry.list_runs(runs_root=runs_root)
    if not experiment:
        return [r for r in found if _same(r, DEMO) and r.state not in FINAL][:1]
    for group in experiments.group_experiments(found).values():
        treatment, control = group.get("treatment"), group.get("control")
        if treatment and control and _same(treatment, DEMO_TREATMENT) and not (
                treatment.is_final and control.is_final):
            return [treatment, control]
    return []


def start_demo(*, runs_root: str | os.PathLike | None = None) -> RunInfo:
    """Start the demo run in the background, or return the one still under way."""
    pending = pending_demos(runs_root=runs_root)
    if pending:
        return pending[0]
    # A fresh key: the launcher's identical-config dedup (a double click within seconds)
    # would otherwise hand back a demo that has just finished instead of a new one.
    return launcher.start_run(DEMO, runs_root=runs_root, idempotency_key=secrets.token_hex(8))


def start_demo_experiment(*, runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Start the demo experiment (``[treatment, control]``), or return the one under way."""
    return pending_demos(runs_root=runs_root, experiment=True) or experiments.start_experiment(
        DEMO_TREATMENT, control=DEMO_CONTROL, runs_root=runs_root)
