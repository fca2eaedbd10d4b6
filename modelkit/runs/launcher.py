"""Starting training runs: check a config at the door, queue it, move the queue.

:func:`start_run` never blocks its caller (the Train page, ``train --background``). It
checks the config as the trainer will (a bad setting or a missing file raises
ValueError before anything is queued), then submits it to the one queue
(:mod:`modelkit.runs.queue`: the run folder with ``config.json``, paths made absolute,
and ``launch.json``, a ``queued`` row) and dispatches. Each started run gets a
supervisor process that runs ``python -m modelkit train --config <run>/config.json
--run-dir <run>``: the run is handed a file, never a rebuilt command line.

Double submit: a start with the same ``idempotency_key`` as an earlier one, or with an
identical config less than ``DEDUP_WINDOW_S`` seconds after it, returns that run.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from modelkit import paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor
from modelkit.config import TrainConfig
from modelkit.runs import queue, reconciler, registry
from modelkit.runs.info import RunInfo
from modelkit.runs.queue import DEDUP_WINDOW_S, dispatch

__all__ = ["DEDUP_WINDOW_S", "as_config", "dispatch", "reconcile", "set_max_concurrent",
           "start_run", "submit"]


def reconcile(*, runs_root: str | os.PathLike | None = None) -> None:
    """Bring the registry in line with the processes and folders, and move the queue.

    Adopts unknown run folders, records runs that ended or died (``failed`` with the
    reason), refreshes heartbeats, then starts queued runs if a slot is free. One
    write transaction; the CLI calls it before every ``runs`` command, every action
    calls it, and the dashboard calls it on a timer (never on every rerun).
    """
    root = paths.runs_root(runs_root)
    if not root.is_dir():
        return  # nothing was ever started here: nothing to reconcile, nothing to create
    with registry.transaction(root) as con:
        reconciler.sync(con, root)
        dispatch(con, root)


def set_max_concurrent(n: int, *, runs_root: str | os.PathLike | None = None) -> None:
    """Raise or lower the concurrency limit; queued runs start at once if it grew."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_concurrent must be a positive integer, got {n!r}")
    root = paths.runs_root(runs_root)
    with registry.transaction(root) as con:
        con.execute("INSERT OR REPLACE INTO settings VALUES ('max_concurrent', ?)", (str(n),))
        reconciler.sync(con, root)
        dispatch(con, root)


# ----------------------------------------------------------------------------- start
def as_config(config: TrainConfig | dict) -> TrainConfig:
    """``config`` as a TrainConfig, checked as the trainer will check it (its files
    included), so a bad setting is refused before anything is queued. A dict must name
    only TrainConfig's fields.

    Raises:
        ValueError: an unknown setting (with the nearest one), or a value TrainConfig
            or the trainer refuses.
        TypeError: neither a TrainConfig nor a dict.
    """
    if not isinstance(config, (TrainConfig, dict)):
        raise TypeError(f"start_run takes a TrainConfig or a dict of its fields, "
                        f"got {type(config).__name__}")
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config, resolved=False)
    config.validate()
    return config


def start_run(config: TrainConfig | dict, *, runs_root: str | os.PathLike | None = None,
              idempotency_key: str | None = None, actor: Actor | None = None) -> RunInfo:
    """Submit a training run and return at once; it starts now or when a slot frees.

    Args:
        config: what to train, as a TrainConfig or a dict of its fields (checked here:
            a bad setting raises ValueError and nothing is queued).
        runs_root: where the run folder goes (default ``$FACESCOPE_RUNS_ROOT`` or ./runs).
        idempotency_key: a client token for this submission; a second start with the
            same key returns the first run. Without one, an identical config submitted
            less than ``DEDUP_WINDOW_S`` seconds after another returns that one (a
            double click), so two identical runs need a few seconds between them.
        actor: who starts it (default :func:`~modelkit.access.local_actor`, the OS user):
            their role must allow ``run.start``, the run records them as ``started_by``,
            their quota applies, and the audit log gets the outcome.

    Raises:
        ValueError: a bad setting (nothing is queued).
        modelkit.access.AccessDenied: the actor may not start runs, or is at their quota.

    Returns:
        The run, ``running`` or ``queued`` (or whatever state the deduplicated run is in).

    Example::

        run = start_run(TrainConfig(source="synthetic", epochs=3))
        wait(run.id).state   # "finished"
    """
    actor = actor or local_actor()
    root = paths.runs_root(runs_root)
    with audited(actor, "run.start", runs_root=root) as entry:
        config = as_config(config)  # a bad setting is refused before anything is created
        with registry.transaction(root) as con:
            reconciler.sync(con, root)  # a dead run must not hold the only slot
            entry.target = submit(con, root, config, idempotency_key=idempotency_key,
                                  actor=actor)
            dispatch(con, root)
    return registry.show(entry.target, runs_root=root)


def submit(con: sqlite3.Connection, root: Path, config: TrainConfig | dict, *,
           idempotency_key: str | None = None, experiment: dict | None = None,
           actor: Actor | None = None) -> str:
    """Queue one training run inside the caller's write transaction; returns its id.

    The part of :func:`start_run` that checks the config and submits it
    (:func:`modelkit.runs.queue.submit`: deduplication, folder, row). The caller
    dispatches. ``experiment`` (``{"id", "role"}``, from :mod:`modelkit.runs.experiments`)
    links the run to its experiment, in the row and in ``launch.json``.
    """
    settings = as_config(config).with_absolute_paths().to_dict()
    return queue.submit(con, root, kind="train", settings=settings,
                        idempotency_key=idempotency_key, experiment=experiment, actor=actor)
