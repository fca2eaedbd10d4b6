"""The one queue of background work: every kind of job is submitted, deduplicated and
started here.

A job is a folder under the runs root and a row of the registry with its ``kind``:

- ``train``: a training run; its settings file is the run's ``config.json``;
- ``predict``: a run's model over another dataset (:mod:`modelkit.prediction.background`);
- ``rank``: a run's suspect labels (:mod:`modelkit.curation.ranking`).

Each is handed its settings as a file, never a rebuilt command line, and runs as one
process that :func:`command` builds: the only place the core writes a child's argv, so
renaming a flag breaks a test rather than a background run. At most
``registry.max_concurrent`` jobs run at once (one by default: one per GPU, the same on
CPU), whatever their kind, so a ranking's K-fold models never share the cores with a
training run. :func:`submit` deduplicates a double request (same ``idempotency_key``, or
the same kind and settings within ``DEDUP_WINDOW_S``); :func:`dispatch` starts queued
jobs, oldest first, each under a supervisor (:mod:`modelkit.runs.supervisor`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from modelkit import paths, runfolder
from modelkit.access.roles import Actor, QuotaExceeded
from modelkit.runs import registry
from modelkit.runs.processes import start_time

KINDS: tuple[str, ...] = ("train", "predict", "rank")
JOB_FILE = "job.json"  # the settings of a job other than training
DEDUP_WINDOW_S = 5.0


def check_kind(kind: str) -> None:
    """Raises ValueError for a kind of job that does not exist, listing the kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")


def settings_file(kind: str, job_dir: Path) -> Path:
    """Where a job's settings are: a training run's config.json, else job.json."""
    return Path(job_dir) / (runfolder.CONFIG_FILE if kind == "train" else JOB_FILE)


def settings_hash(kind: str, settings: dict) -> str:
    """The digest a double submission is recognised by (kind and settings)."""
    text = json.dumps({"kind": kind, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def command(kind: str, job_dir: Path, *, resume: bool = False) -> list[str]:
    """The command line of a job's one process, e.g. ``python -m modelkit train --config
    <run>/config.json --run-dir <run> [--resume]``.

    Raises:
        ValueError: an unknown kind.
    """
    check_kind(kind)
    job_dir = Path(job_dir)
    if kind == "train":
        return train_command(settings_file(kind, job_dir), run_dir=job_dir, resume=resume)
    verb = ["predict"] if kind == "predict" else ["labels", "rank"]
    return [sys.executable, "-m", "modelkit", *verb, "--config",
            os.fspath(settings_file(kind, job_dir)), "--job-dir", os.fspath(job_dir)]


def train_command(config_file: Path, *, run_dir: Path, resume: bool = False) -> list[str]:
    """``python -m modelkit train --config FILE --run-dir DIR [--resume]``: a trainer
    handed its settings as a file (a queued run, each local multi-worker process)."""
    return [sys.executable, "-m", "modelkit", "train", "--config", os.fspath(config_file),
            "--run-dir", os.fspath(run_dir), *(["--resume"] if resume else [])]


def child_env() -> dict:
    """The environment of launched processes: ours, with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.fspath(paths.REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def supervisor_command(run_id: str, root: Path) -> list[str]:
    """``python -m modelkit.runs.supervisor RUN_ID RUNS_ROOT``."""
    return [sys.executable, "-m", "modelkit.runs.supervisor", run_id, os.fspath(root)]


def _new_id(root: Path, kind: str) -> str:
    while True:
        middle = "" if kind == "train" else f"-{kind}"
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}{middle}-{secrets.token_hex(3)}"
        if not (root / job_id).exists():
            return job_id


def submit(con: sqlite3.Connection, root: Path, *, kind: str, settings: dict,
           parent: str | None = None, idempotency_key: str | None = None,
           experiment: dict | None = None, actor: Actor | None = None) -> str:
    """Queue one job inside the caller's write transaction; returns its id.

    Deduplicates (the same ``idempotency_key``; else the same kind and settings less
    than ``DEDUP_WINDOW_S`` seconds after another: a double click), makes the folder
    (the settings file, ``launch.json``) and adds the ``queued`` row. The caller
    dispatches. ``settings`` must be checked by the caller and JSON-serialisable.
    ``experiment`` (``{"id", "role"}``, :mod:`modelkit.runs.experiments`) links a
    training run to its experiment. ``actor`` is recorded as ``started_by``, and a new
    job beyond their ``queue_quota`` of unfinished ones is refused.

    Raises:
        ValueError: an unknown kind.
        QuotaExceeded: the actor already has ``queue_quota`` jobs queued or running.
    """
    check_kind(kind)
    digest, now = settings_hash(kind, settings), time.time()
    if idempotency_key:
        same = con.execute("SELECT id FROM runs WHERE idempotency_key = ?",
                           (idempotency_key,)).fetchone()
    else:
        same = con.execute("SELECT id FROM runs WHERE config_hash = ? AND created > ? "
                           "ORDER BY created DESC", (digest, now - DEDUP_WINDOW_S)).fetchone()
    if same is not None:
        return same["id"]
    if actor is not None:
        check_quota(con, actor)
    job_id = _new_id(root, kind)
    job_dir = root / job_id
    job_dir.mkdir(parents=True)
    runfolder.write_json(settings_file(kind, job_dir), settings)
    launch = {"id": job_id, "kind": kind, "parent": parent, "config": settings,
              "cwd": os.getcwd(), "idempotency_key": idempotency_key, "created": now,
              "started_by": actor.user if actor else None}
    if experiment:
        launch["experiment"] = {"id": experiment["id"], "role": experiment["role"]}
    runfolder.write_json(job_dir / runfolder.LAUNCH_FILE, launch)
    con.execute(
        "INSERT INTO runs (id, state, config, cwd, idempotency_key, config_hash, created,"
        " queued_at, kind, parent, experiment, experiment_role, started_by)"
        " VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, json.dumps(settings), launch["cwd"], idempotency_key, digest, now, now, kind,
         parent, (experiment or {}).get("id"), (experiment or {}).get("role"), launch["started_by"]))
    return job_id


def check_quota(con: sqlite3.Connection, actor: Actor, *, adding: int = 1) -> None:
    """Refuse ``adding`` more jobs when the actor would pass their ``queue_quota`` of
    queued or running ones.

    Raises:
        QuotaExceeded: naming the count, the quota and what to do.
    """
    if actor.queue_quota is None:
        return
    waiting = ("queued", *runfolder.ACTIVE)
    count = con.execute(f"SELECT COUNT(*) FROM runs WHERE started_by = ? AND state IN "
                        f"({', '.join('?' * len(waiting))})", (actor.user, *waiting)).fetchone()[0]
    if count + adding > actor.queue_quota:
        raise QuotaExceeded(f"{actor.user} already has {count} run(s) or job(s) queued or "
                            f"running; their quota is {actor.queue_quota}"
                            f"{f' and this adds {adding}' if adding > 1 else ''}; wait for one to end, "
                            "or cancel one, then start again")


def dispatch(con: sqlite3.Connection, root: Path) -> None:
    """Start queued jobs, oldest first, while fewer than the limit are active.

    Runs inside the caller's write transaction, so two dispatchers never both see a
    free slot.
    """
    limit = registry.max_concurrent(con)
    active = con.execute("SELECT COUNT(*) FROM runs WHERE state IN (?, ?)",
                         runfolder.ACTIVE).fetchone()[0]
    while active < limit:
        row = con.execute("SELECT * FROM runs WHERE state = 'queued' "
                          "ORDER BY queued_at, created LIMIT 1").fetchone()
        if row is None:
            return
        run_dir = root / row["id"]
        now = time.time()
        try:
            with (run_dir / runfolder.LOG_FILE).open("ab") as log:
                proc = subprocess.Popen(
                    supervisor_command(row["id"], root), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    cwd=row["cwd"] if row["cwd"] and Path(row["cwd"]).is_dir() else root,
                    env=child_env())
        except OSError as exc:
            con.execute("UPDATE runs SET state='failed', ended=?, error=? WHERE id=?",
                        (now, f"could not start the job's supervisor process: {exc}", row["id"]))
            continue
        born = start_time(proc.pid)
        con.execute(
            "UPDATE runs SET state='running', supervisor_pid=?, supervisor_started=?, pid=NULL,"
            " pid_started=NULL, started=?, ended=NULL, error=NULL, attempts=attempts+1"
            " WHERE id=?", (proc.pid, born, now, row["id"]))
        # The folder's own record of the attempt, for a registry rebuilt meanwhile.
        runfolder.write_json(run_dir / runfolder.ATTEMPT_FILE, {
            "supervisor_pid": proc.pid, "supervisor_started": born, "started": now,
            "resume": bool(row["resume"]), "attempt": row["attempts"] + 1})
        active += 1
