"""Reconciling the registry with the processes and the folders.

Two things can make the registry wrong, and this module puts them right inside the
caller's write transaction:

- A run whose processes are gone without saying how it ended (``kill -9``, a crash, a
  reboot): its row still says ``running``. :func:`sync` finds it (neither its
  supervisor nor its trainer is alive, see :mod:`modelkit.runs.processes`) and
  :func:`finish` records ``failed`` with the reason, in the registry and in the
  folder's ``status.json``, so the folder alone tells what happened.
- A run folder the registry does not know (the database was deleted, or a foreground
  ``train --run-dir`` wrote under the runs root): :func:`adopt_folders` rebuilds its
  row from ``launch.json``, ``attempt.json`` and ``status.json``.

The supervisor of a run calls :func:`finish` itself when its trainer exits, so this is
the fallback for when nobody was left to do it. Starting queued runs afterwards is the
queue's job (:func:`modelkit.runs.launcher.reconcile` does both).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from modelkit.runfolder import (
    ACTIVE,
    ATTEMPT_FILE,
    CANCEL_FILE,
    CONFIG_FILE,
    FINAL,
    LAUNCH_FILE,
    STATES,
    STATUS_FILE,
    blank_status,
    clear_cancel,
    read_json,
    read_status,
    status_of_attempt,
    write_json,
)
from modelkit.runs.processes import describe_exit, is_alive
from modelkit.runs.queue import settings_hash

DIED_REASON = "process exited without a final status (killed?)"


# ----------------------------------------------------------------------------- liveness
def alive(row: sqlite3.Row, status: dict | None) -> bool:
    """Whether a run's supervisor or its trainer is still a live process of this run.

    Pids the launcher recorded carry their start times; a trainer pid known only from
    status.json must have started before the last heartbeat (see processes.is_alive).
    """
    if is_alive(row["supervisor_pid"], started=row["supervisor_started"],
                not_after=row["started"]):
        return True
    beat = (status or {}).get("heartbeat") or row["heartbeat"] or row["started"]
    pid = row["pid"] or (status or {}).get("pid")
    return is_alive(pid, started=row["pid_started"], not_after=beat)


def sync(con: sqlite3.Connection, root: Path) -> None:
    """Adopt unknown folders, refresh live runs' heartbeats, record dead runs' ends."""
    adopt_folders(con, root)
    for row in con.execute("SELECT * FROM runs WHERE state IN (?, ?)", ACTIVE).fetchall():
        run_dir = root / row["id"]
        status = status_of_attempt(run_dir, started=row["started"])
        if alive(row, status):
            if status:
                con.execute("UPDATE runs SET heartbeat=?, epoch=?, epochs=?, pid=COALESCE(pid, ?)"
                            " WHERE id=?", (status.get("heartbeat"), status.get("epoch"),
                                            status.get("epochs"), status.get("pid"), row["id"]))
            continue
        finish(con, row, run_dir, returncode=None)


# ----------------------------------------------------------------------------- ending
def finish(con: sqlite3.Connection, row: sqlite3.Row, run_dir: Path, *,
           returncode: int | None, never_started: bool = False) -> None:
    """Record how an attempt ended: its final status.json, else ``failed`` with a reason.

    Args:
        returncode: the trainer's exit status when the supervisor saw it, for the reason.
        never_started: the attempt was cancelled before its trainer started.
    """
    status = status_of_attempt(run_dir, started=row["started"])
    now = time.time()
    previous = read_status(run_dir) or {}
    blank = blank_status(state=row["state"], pid=row["pid"], epoch=row["epoch"],
                         epochs=row["epochs"])
    if never_started:
        state, error = "cancelled", None
        write_json(run_dir / STATUS_FILE, {**blank, **previous, "state": state,
                                             "heartbeat": now, "error": None})
    elif status is not None and status.get("state") in FINAL:
        state, error = status["state"], status.get("error")
    else:
        state = "failed"
        error = DIED_REASON + (f" ({describe_exit(returncode)})" if returncode is not None else "")
        write_json(run_dir / STATUS_FILE, {**blank, **previous, "state": state,
                                             "heartbeat": now, "error": error,
                                             "traceback": None})
        status = previous
    clear_cancel(run_dir)
    con.execute(
        "UPDATE runs SET state=?, ended=?, error=?, heartbeat=COALESCE(?, heartbeat),"
        " epoch=COALESCE(?, epoch), epochs=COALESCE(?, epochs) WHERE id=?",
        (state, now, error, (status or {}).get("heartbeat"), (status or {}).get("epoch"),
         (status or {}).get("epochs"), row["id"]))


# ----------------------------------------------------------------------------- adoption
def _adopted_state(run_dir: Path, status: dict | None, attempt: dict) -> tuple[str, str | None]:
    """The state a folder's own files say it is in, and the error if it failed."""
    state = (status or {}).get("state", "queued")
    state = state if state in STATES else "failed"
    error = (status or {}).get("error")
    stale = status is not None and float(status.get("heartbeat") or 0) < \
        float(attempt.get("started") or 0) - 1  # the previous attempt's status
    if status is None or stale or state not in FINAL:
        if is_alive(attempt.get("supervisor_pid"), started=attempt.get("supervisor_started"),
                    not_after=attempt.get("started")):
            state = "running"  # launched; its trainer may not have written status yet
        elif attempt and (status is None or stale):
            state, error = "failed", DIED_REASON  # the last attempt died early
        elif status is None:
            state = "queued"  # submitted, never launched
    if state == "running" and (run_dir / CANCEL_FILE).exists():
        state = "cancelling"
    return state, error


def adopt_folders(con: sqlite3.Connection, root: Path) -> None:
    """Register run folders the registry does not know, from their own files.

    A folder counts as a run when it holds ``launch.json`` (the launcher made it) or
    ``status.json`` (a trainer wrote it); anything else under the runs root is left alone.
    """
    if not root.is_dir():
        return
    known = {r["id"] for r in con.execute("SELECT id FROM runs")}
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in known):
        launch = read_json(run_dir / LAUNCH_FILE)
        status = read_status(run_dir)
        if launch is None and status is None:
            continue
        config = (launch or {}).get("config") or read_json(run_dir / CONFIG_FILE) or {}
        created = (launch or {}).get("created") or run_dir.stat().st_mtime
        attempt = read_json(run_dir / ATTEMPT_FILE) or {}
        state, error = _adopted_state(run_dir, status, attempt)
        experiment = (launch or {}).get("experiment") or {}  # a remedy experiment's link
        status = status or {}
        con.execute(
            "INSERT INTO runs (id, state, pid, supervisor_pid, supervisor_started, config, cwd,"
            " idempotency_key, config_hash, resume, attempts, created, queued_at, started,"
            " heartbeat, epoch, epochs, error, experiment, experiment_role) VALUES (?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_dir.name, state, status.get("pid"), attempt.get("supervisor_pid"),
             attempt.get("supervisor_started"), json.dumps(config), (launch or {}).get("cwd"),
             (launch or {}).get("idempotency_key"),
             settings_hash((launch or {}).get("kind", "train"), config),
             int(bool(attempt.get("resume"))), attempt.get("attempt", 0), created, created,
             attempt.get("started"), status.get("heartbeat"), status.get("epoch"),
             status.get("epochs"), error, experiment.get("id"), experiment.get("role")))
        if (launch or {}).get("started_by"):
            con.execute("UPDATE runs SET started_by=? WHERE id=?",
                        (launch["started_by"], run_dir.name))
        if (launch or {}).get("kind", "train") != "train":  # a job (modelkit.runs.jobs)
            con.execute("UPDATE runs SET kind=?, parent=? WHERE id=?",
                        (launch["kind"], launch.get("parent"), run_dir.name))
