"""Starting runs: submit a config, queue it, and launch supervisors when a slot frees.

:func:`start_run` never blocks its caller (the Train page, ``train --background``). It
checks the config (a bad setting raises ValueError before anything is queued), makes
the run folder with ``config.json`` (paths made absolute) and ``launch.json``, adds a
``queued`` row, and :func:`dispatch` starts queued runs, oldest first, while fewer than
the limit are active (one by default: one per GPU, the same on CPU).

Each started run gets a supervisor process, ``python -m modelkit.runs.supervisor RUN_ID
RUNS_ROOT``, in a new session, so it outlives the Streamlit server, its reruns and the
terminal. The supervisor runs ``python -m modelkit train --config <run>/config.json
--run-dir <run>``: the run is handed a file, never a rebuilt command line.

Double submit: a start with the same ``idempotency_key`` as an earlier one, or with an
identical config less than ``DEDUP_WINDOW_S`` seconds after it, returns that run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from modelkit import paths
from modelkit.config import TrainConfig
from modelkit.runs import reconciler, registry
from modelkit.runfolder import ACTIVE, ATTEMPT_FILE, CONFIG_FILE, LAUNCH_FILE, LOG_FILE, write_json
from modelkit.runs.info import RunInfo
from modelkit.runs.processes import start_time

DEDUP_WINDOW_S = 5.0


def child_env() -> dict:
    """The environment of launched processes: ours, with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.fspath(paths.REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def supervisor_command(run_id: str, root: Path) -> list[str]:
    """``python -m modelkit.runs.supervisor RUN_ID RUNS_ROOT``."""
    return [sys.executable, "-m", "modelkit.runs.supervisor", run_id, os.fspath(root)]


# ----------------------------------------------------------------------------- the queue
def dispatch(con: sqlite3.Connection, root: Path) -> None:
    """Start queued runs, oldest first, while fewer than the limit are active.

    Runs inside the caller's write transaction, so two dispatchers never both see a
    free slot.
    """
    limit = registry.max_concurrent(con)
    active = con.execute("SELECT COUNT(*) FROM runs WHERE state IN (?, ?)", ACTIVE).fetchone()[0]
    while active < limit:
        row = con.execute("SELECT * FROM runs WHERE state = 'queued' "
                          "ORDER BY queued_at, created LIMIT 1").fetchone()
        if row is None:
            return
        run_dir = root / row["id"]
        now = time.time()
        try:
            with (run_dir / LOG_FILE).open("ab") as log:
                proc = subprocess.Popen(
                    supervisor_command(row["id"], root), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    cwd=row["cwd"] if row["cwd"] and Path(row["cwd"]).is_dir() else root,
                    env=child_env())
        except OSError as exc:
            con.execute("UPDATE runs SET state='failed', ended=?, error=? WHERE id=?",
                        (now, f"could not start the run's supervisor process: {exc}", row["id"]))
            continue
        born = start_time(proc.pid)
        con.execute(
            "UPDATE runs SET state='running', supervisor_pid=?, supervisor_started=?, pid=NULL,"
            " pid_started=NULL, started=?, ended=NULL, error=NULL, attempts=attempts+1"
            " WHERE id=?", (proc.pid, born, now, row["id"]))
        # The folder's own record of the attempt, for a registry rebuilt meanwhile.
        write_json(run_dir / ATTEMPT_FILE, {"supervisor_pid": proc.pid,
                                              "supervisor_started": born, "started": now,
                                              "resume": bool(row["resume"]),
                                              "attempt": row["attempts"] + 1})
        active += 1


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
    """``config`` as a TrainConfig; a dict must name only TrainConfig's fields.

    Raises:
        ValueError: an unknown setting, or a value TrainConfig refuses.
        TypeError: neither a TrainConfig nor a dict.
    """
    if isinstance(config, TrainConfig):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"start_run takes a TrainConfig or a dict of its fields, "
                        f"got {type(config).__name__}")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(f"unknown train setting(s) {', '.join(unknown)}; "
                         f"TrainConfig takes {', '.join(sorted(names))}")
    return TrainConfig.from_dict(config)


def _new_id(root: Path) -> str:
    while True:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        if not (root / run_id).exists():
            return run_id


def start_run(config: TrainConfig | dict, *, runs_root: str | os.PathLike | None = None,
              idempotency_key: str | None = None) -> RunInfo:
    """Submit a training run and return at once; it starts now or when a slot frees.

    Args:
        config: what to train, as a TrainConfig or a dict of its fields (checked here:
            a bad setting raises ValueError and nothing is queued).
        runs_root: where the run folder goes (default ``$FACESCOPE_RUNS_ROOT`` or ./runs).
        idempotency_key: a client token for this submission; a second start with the
            same key returns the first run. Without one, an identical config submitted
            less than ``DEDUP_WINDOW_S`` seconds after another returns that one (a
            double click), so two identical runs need a few seconds between them.

    Returns:
        The run, ``running`` or ``queued`` (or whatever state the deduplicated run is in).

    Example::

        run = start_run(TrainConfig(source="synthetic", epochs=3))
        wait(run.id).state   # "finished"
    """
    config = as_config(config)  # a bad setting is refused before anything is created
    root = paths.runs_root(runs_root)
    with registry.transaction(root) as con:
        reconciler.sync(con, root)  # a dead run must not hold the only slot
        run_id = submit(con, root, config, idempotency_key=idempotency_key)
        dispatch(con, root)
    return registry.show(run_id, runs_root=root)


def submit(con: sqlite3.Connection, root: Path, config: TrainConfig | dict, *,
           idempotency_key: str | None = None, experiment: dict | None = None) -> str:
    """Queue one run inside the caller's write transaction; returns its id.

    The part of :func:`start_run` that checks the config, deduplicates (same
    ``idempotency_key``, else an identical config within ``DEDUP_WINDOW_S``), makes the
    folder (``config.json``, ``launch.json``) and adds the ``queued`` row. The caller
    dispatches. ``experiment`` (``{"id", "role"}``, from :mod:`modelkit.runs.experiments`)
    links the run to its experiment, in the row and in ``launch.json``.
    """
    config = as_config(config).with_absolute_paths()
    values = config.to_dict()
    digest = reconciler.config_hash(values)
    now = time.time()
    if idempotency_key:
        same = con.execute("SELECT id FROM runs WHERE idempotency_key = ?",
                           (idempotency_key,)).fetchone()
    else:
        same = con.execute("SELECT id FROM runs WHERE config_hash = ? AND created > ? "
                           "ORDER BY created DESC", (digest, now - DEDUP_WINDOW_S)).fetchone()
    if same is not None:
        return same["id"]
    run_id = _new_id(root)
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    config.save(run_dir / CONFIG_FILE)
    launch = {"id": run_id, "config": values, "cwd": os.getcwd(),
              "idempotency_key": idempotency_key, "created": now}
    if experiment:
        launch["experiment"] = {"id": experiment["id"], "role": experiment["role"]}
    write_json(run_dir / LAUNCH_FILE, launch)
    con.execute(
        "INSERT INTO runs (id, state, config, cwd, idempotency_key, config_hash,"
        " created, queued_at, experiment, experiment_role) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?,"
        " ?, ?)",
        (run_id, json.dumps(values), launch["cwd"], idempotency_key, digest, now, now,
         (experiment or {}).get("id"), (experiment or {}).get("role")))
    return run_id
