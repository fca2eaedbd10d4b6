"""The run registry: a small SQLite index of the run folders, and the reads of it.

``<runs root>/registry.sqlite`` holds one row per run (state, pids, timestamps, the
submitted config, queue order) and the settings (the concurrency limit). It is an
index, not the truth: every run folder holds its own ``launch.json`` and
``status.json``, and :mod:`modelkit.runs.reconciler` rebuilds lost rows from them.

The schema is versioned with ``PRAGMA user_version`` and upgraded by the ordered
:data:`MIGRATIONS`: opening a current file costs one pragma read, an older file is
upgraded once, step by step, and a newer one is refused. Writes are one
``BEGIN IMMEDIATE`` transaction each (WAL mode, busy timeout), so two clicks, two
tabs, a page and a supervisor never interleave.

:func:`list_runs` and :func:`show` only read: no reconcile, no write lock, no folder
adoption (the one write a reader may make is that one-time schema upgrade of an old
file). Call :func:`modelkit.runs.reconcile` first where up-to-the-second liveness
matters (the CLI does; the dashboard does it on a timer).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from modelkit import paths
from modelkit.runfolder import ACTIVE, CONFIG_FILE, FINAL, STALE_S, read_json, read_status, status_of_attempt
from modelkit.runs.info import RunInfo

FILENAME = "registry.sqlite"

# Version 1 is the schema the unversioned registry (user_version 0) created on every
# connect; on such a file it changes nothing. Append new steps; never edit old ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the original tables
        """CREATE TABLE IF NOT EXISTS runs (
            id TEXT PRIMARY KEY, state TEXT NOT NULL, pid INTEGER, supervisor_pid INTEGER,
            config TEXT NOT NULL, argv TEXT NOT NULL, cwd TEXT, idempotency_key TEXT,
            config_hash TEXT, resume INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, queued_at REAL,
            started REAL, ended REAL, heartbeat REAL, epoch INTEGER, epochs INTEGER,
            error TEXT)""",
        "CREATE INDEX IF NOT EXISTS runs_key ON runs(idempotency_key)",
        "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (  # 2: process start times (pid identity via psutil); no argv (runs get config.json)
        "ALTER TABLE runs ADD COLUMN pid_started REAL",
        "ALTER TABLE runs ADD COLUMN supervisor_started REAL",
        "ALTER TABLE runs DROP COLUMN argv",
        "CREATE INDEX IF NOT EXISTS runs_state ON runs(state)",
    ),
    (  # 3: remedy experiments (modelkit.runs.experiments): the pair's id, each run's role
        "ALTER TABLE runs ADD COLUMN experiment TEXT",
        "ALTER TABLE runs ADD COLUMN experiment_role TEXT",
        "CREATE INDEX IF NOT EXISTS runs_experiment ON runs(experiment)",
    ),
    (  # 4: other jobs than training (modelkit.runs.jobs): what kind, and the run it serves
        "ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train'",
        "ALTER TABLE runs ADD COLUMN parent TEXT",
    ),
    (  # 5: who did what (modelkit.access); a deleted run leaves who deleted it
        "ALTER TABLE runs ADD COLUMN started_by TEXT",
        "ALTER TABLE runs ADD COLUMN cancelled_by TEXT",
        "ALTER TABLE runs ADD COLUMN resumed_by TEXT",
        "CREATE INDEX IF NOT EXISTS runs_started_by ON runs(started_by)",
        """CREATE TABLE IF NOT EXISTS deleted_runs (
            id TEXT PRIMARY KEY, kind TEXT, started_by TEXT, deleted_by TEXT, deleted REAL NOT NULL)""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def registry_path(runs_root: str | os.PathLike | None = None) -> Path:
    """``<runs root>/registry.sqlite``."""
    return paths.runs_root(runs_root) / FILENAME


# ----------------------------------------------------------------------------- connecting
def migrate(con: sqlite3.Connection) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; returns the version it had.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction and re-reads the version
    inside it, so two processes upgrading at once apply every step exactly once.

    Raises:
        RuntimeError: the file is newer than this code (written by a later FaceScope).
    """
    found = con.execute("PRAGMA user_version").fetchone()[0]
    if found == SCHEMA_VERSION:
        return found
    if found > SCHEMA_VERSION:
        raise RuntimeError(f"the run registry is schema version {found}, newer than this "
                           f"FaceScope's {SCHEMA_VERSION}; upgrade FaceScope, or use another "
                           "--runs-root")
    con.execute("PRAGMA journal_mode=WAL")  # persistent in the file; not inside a transaction
    while True:
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                con.execute("COMMIT")
                return found
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def connect(root: Path, *, create: bool = True) -> sqlite3.Connection | None:
    """A connection to ``root``'s registry at the current schema.

    With ``create=False`` a missing registry is None (a reader creates nothing).
    """
    path = root / FILENAME
    if not create and not path.exists():
        return None
    root.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA busy_timeout=30000")
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def transaction(root: Path) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` write transaction: readers go on, writers queue."""
    con = connect(root)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


@contextlib.contextmanager
def reading(root: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only use of the registry; None when there is none yet."""
    con = connect(root, create=False)
    try:
        yield con
    finally:
        if con is not None:
            con.close()


def get_row(con: sqlite3.Connection, run_id: str) -> sqlite3.Row:
    """The registry row of ``run_id``. Raises ValueError naming the fix when unknown."""
    row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise ValueError(unknown_run(con, run_id, "in the registry"))
    return row


def unknown_run(con: sqlite3.Connection | None, run_id: str, where: str) -> str:
    """The message for a run id the registry does not hold: who deleted it, when it was."""
    gone = None if con is None else con.execute(
        "SELECT deleted_by, deleted FROM deleted_runs WHERE id = ?", (run_id,)).fetchone()
    if gone is not None:
        return (f"run {run_id!r} was deleted by {gone['deleted_by'] or 'an unknown user'} "
                f"on {time.strftime('%Y-%m-%d %H:%M', time.localtime(gone['deleted']))}")
    return f"no run {run_id!r} {where}; `python -m modelkit runs list` shows the runs there"


# ----------------------------------------------------------------------------- settings
def max_concurrent(con: sqlite3.Connection | None) -> int:
    """How many runs may train at once (default 1: one per GPU, the same on CPU)."""
    row = None if con is None else con.execute(
        "SELECT value FROM settings WHERE key = 'max_concurrent'").fetchone()
    return int(row["value"]) if row else 1


def get_max_concurrent(*, runs_root: str | os.PathLike | None = None) -> int:
    """How many runs may train at once under ``runs_root`` (default 1)."""
    with reading(paths.runs_root(runs_root)) as con:
        return max_concurrent(con)


# ----------------------------------------------------------------------------- reads
def run_info(row: sqlite3.Row, root: Path, *, queue_position: int | None,
             now: float) -> RunInfo:
    """A registry row and its folder's status/config files, as one :class:`RunInfo`."""
    run_dir = root / row["id"]
    status = read_status(run_dir) or {}
    fresh = row["state"] in ACTIVE and status_of_attempt(run_dir, started=row["started"])
    beat = status.get("heartbeat") if (fresh or row["state"] in FINAL) else row["heartbeat"]
    failed = row["state"] == "failed"
    return RunInfo(
        id=row["id"], state=row["state"], pid=row["pid"], run_dir=os.fspath(run_dir),
        config={**json.loads(row["config"] or "{}"), **(read_json(run_dir / CONFIG_FILE) or {})},
        created=row["created"], started=row["started"], ended=row["ended"], heartbeat=beat,
        epoch=status.get("epoch", row["epoch"]), epochs=status.get("epochs", row["epochs"]),
        batch=status.get("batch"), steps_per_epoch=status.get("steps_per_epoch"),
        error=row["error"] or (status.get("error") if failed else None),
        traceback=status.get("traceback") if failed else None,
        attempts=row["attempts"], resume=bool(row["resume"]), queue_position=queue_position,
        stalled=bool(fresh and beat and now - float(beat) > STALE_S),
        experiment=row["experiment"], experiment_role=row["experiment_role"],
        kind=row["kind"], parent=row["parent"], started_by=row["started_by"],
        cancelled_by=row["cancelled_by"], resumed_by=row["resumed_by"],
    )


def list_runs(*, runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """All runs, newest first, as the registry and their folders say now. Only reads."""
    root = paths.runs_root(runs_root)
    with reading(root) as con:
        rows = [] if con is None else con.execute(
            "SELECT * FROM runs ORDER BY created DESC").fetchall()
    queued = sorted((r for r in rows if r["state"] == "queued"),
                    key=lambda r: (r["queued_at"] or 0, r["created"]))
    queue = {r["id"]: i + 1 for i, r in enumerate(queued)}
    now = time.time()
    return [run_info(r, root, queue_position=queue.get(r["id"]), now=now) for r in rows]


def show(run_id: str, *, runs_root: str | os.PathLike | None = None) -> RunInfo:
    """One run, reading its row and its folder only. Raises ValueError for an unknown id."""
    root = paths.runs_root(runs_root)
    with reading(root) as con:
        row = None if con is None else con.execute(
            "SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        position = None
        if row is not None and row["state"] == "queued":
            ahead = con.execute(
                "SELECT COUNT(*) FROM runs WHERE state = 'queued' AND "
                "(COALESCE(queued_at, 0), created) < (COALESCE(?, 0), ?)",
                (row["queued_at"], row["created"])).fetchone()[0]
            position = ahead + 1
        if row is None:
            raise ValueError(unknown_run(con, run_id, f"under {root}"))
    return run_info(row, root, queue_position=position, now=time.time())
