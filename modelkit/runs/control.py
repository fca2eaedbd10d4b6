"""What a user does to a run once it is submitted: cancel, resume, delete, wait.

Each action reconciles first (so it acts on the run's real state, not a stale row),
changes the run in one write transaction, and moves the queue. States:
``queued -> running -> finished | failed | cancelled`` and
``running -> cancelling -> cancelled``.

Cancel, resume and delete take an ``actor`` (default the OS user, an admin): below admin,
only on one's own runs. The run records who did it, and the audit log the outcome.
"""

from __future__ import annotations

import os
import shutil
import time

from modelkit import paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor
from modelkit.runs import reconciler, registry
from modelkit.runfolder import (
    ACTIVE,
    STATUS_FILE,
    blank_status,
    clear_cancel,
    read_status,
    request_cancel,
    write_json,
)
from modelkit.runs.info import RunInfo
from modelkit.runs.launcher import reconcile
from modelkit.runs.queue import dispatch

RECONCILE_EVERY_S = 5.0


def cancel(run_id: str, *, runs_root: str | os.PathLike | None = None,
           actor: Actor | None = None) -> RunInfo:
    """Ask a run to stop.

    A queued run is cancelled at once and never starts. A running one gets the
    ``CANCEL`` file and ends ``cancelled`` at the next batch boundary, keeping its
    checkpoint (``resume`` goes on from there).

    Raises:
        ValueError: an unknown run, or one that has already ended.
        modelkit.access.AccessDenied: the actor may not cancel it.
    """
    root = paths.runs_root(runs_root)
    actor = actor or local_actor()
    with audited(actor, "run.cancel", runs_root=root, target=run_id) as entry, \
            registry.transaction(root) as con:
        reconciler.sync(con, root)
        row = registry.get_row(con, run_id)
        entry.owned_by(row["started_by"])
        con.execute("UPDATE runs SET cancelled_by=? WHERE id=?", (actor.user, run_id))
        run_dir = root / run_id
        if row["state"] == "queued":
            now = time.time()
            con.execute("UPDATE runs SET state='cancelled', ended=? WHERE id=?", (now, run_id))
            previous = read_status(run_dir) or {}
            write_json(run_dir / STATUS_FILE, {
                **blank_status(state="cancelled", epoch=row["epoch"], epochs=row["epochs"]),
                **previous, "state": "cancelled", "heartbeat": now, "error": None,
                "traceback": None})
        elif row["state"] in ACTIVE:
            request_cancel(run_dir, when=time.ctime())
            con.execute("UPDATE runs SET state='cancelling' WHERE id=?", (run_id,))
        else:
            raise ValueError(f"run {run_id} has already ended ({row['state']}); nothing to cancel")
        dispatch(con, root)
    return registry.show(run_id, runs_root=root)


def resume(run_id: str, *, runs_root: str | os.PathLike | None = None,
           actor: Actor | None = None) -> RunInfo:
    """Queue a cancelled or failed run again; it restarts with ``--resume`` (from its
    checkpoint, up to the planned epoch count) when a slot is free.

    Raises:
        ValueError: an unknown run, or one that is not cancelled or failed.
        modelkit.access.AccessDenied: the actor may not resume it.
    """
    root = paths.runs_root(runs_root)
    actor = actor or local_actor()
    with audited(actor, "run.resume", runs_root=root, target=run_id) as entry, \
            registry.transaction(root) as con:
        reconciler.sync(con, root)
        row = registry.get_row(con, run_id)
        entry.owned_by(row["started_by"])
        if row["state"] not in ("cancelled", "failed"):
            raise ValueError(f"run {run_id} is {row['state']}; only a cancelled or failed run "
                             "can be resumed")
        clear_cancel(root / run_id)
        con.execute("UPDATE runs SET state='queued', resume=1, queued_at=?, ended=NULL, error=NULL,"
                    " pid=NULL, pid_started=NULL, supervisor_pid=NULL, supervisor_started=NULL,"
                    " resumed_by=? WHERE id=?", (time.time(), actor.user, run_id))
        dispatch(con, root)
    return registry.show(run_id, runs_root=root)


def delete(run_id: str, *, runs_root: str | os.PathLike | None = None,
           actor: Actor | None = None) -> None:
    """Remove a run's folder and registry row; the registry keeps who deleted it
    (``deleted_runs``), so asking for the run later says who and when.

    Raises:
        ValueError: an unknown run, or one still running (cancel it first).
        modelkit.access.AccessDenied: the actor may not delete it.
    """
    root = paths.runs_root(runs_root)
    actor = actor or local_actor()
    with audited(actor, "run.delete", runs_root=root, target=run_id) as entry, \
            registry.transaction(root) as con:
        reconciler.sync(con, root)
        row = registry.get_row(con, run_id)
        entry.owned_by(row["started_by"])
        if row["state"] in ACTIVE:
            raise ValueError(f"run {run_id} is {row['state']}; cancel it and wait for it to "
                             "end before deleting it")
        run_dir = root / run_id
        if run_dir.resolve().parent != root.resolve():
            raise ValueError(f"refusing to delete {run_dir}: not a folder of {root}")
        if run_dir.exists():
            shutil.rmtree(run_dir)
        con.execute("DELETE FROM runs WHERE id=?", (run_id,))
        con.execute("INSERT OR REPLACE INTO deleted_runs VALUES (?, ?, ?, ?, ?)",
                    (run_id, row["kind"], row["started_by"], actor.user, time.time()))
        dispatch(con, root)


def wait(run_id: str, *, runs_root: str | os.PathLike | None = None,
         timeout: float | None = None, poll_s: float = 0.5) -> RunInfo:
    """Block until the run ends (finished, failed or cancelled) or ``timeout`` passes.

    Reads the run every ``poll_s`` seconds (its supervisor records a normal end) and
    reconciles every ``RECONCILE_EVERY_S`` seconds, so a run whose supervisor died too
    is still seen to end. Returns the run as last seen; the caller checks ``.state``.

    Raises:
        ValueError: an unknown run.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    reconciled = float("-inf")
    while True:
        if time.monotonic() - reconciled >= RECONCILE_EVERY_S:
            reconcile(runs_root=runs_root)
            reconciled = time.monotonic()
        run = registry.show(run_id, runs_root=runs_root)
        if run.is_final or (deadline is not None and time.monotonic() >= deadline):
            return run
        time.sleep(poll_s)
