"""Jobs other than training, queued and supervised like a training run.

A prediction on another dataset takes minutes on a CPU, so the Evaluate page starts
it in the background, the way the Train page starts a run: a folder under the runs
root, a ``queued`` row in the registry (``kind``, and ``parent`` = the run it serves)
and the same queue, supervisor, cancel and reconcile. The job is handed a file,
``<job>/job.json`` (its settings), never a rebuilt command line: the supervisor runs
:func:`job_command`, e.g. ``python -m modelkit predict --config <job>/job.json
--job-dir <job>``. The job writes ``status.json`` and ``metrics.jsonl`` progress lines
like a trainer. What a kind of job does lives with it (predictions:
``modelkit.prediction.background``); this module knows only how jobs are queued and
started, and imports none of them.

Example::

    job = start_job("predict", config=request.to_dict(), parent="20260101-...")
    wait(job.id).state          # "finished"
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

from modelkit import paths
from modelkit.runs import reconciler, registry
from modelkit.runfolder import LAUNCH_FILE, write_json
from modelkit.runs.info import RunInfo
from modelkit.runs.launcher import DEDUP_WINDOW_S, dispatch

KINDS: tuple[str, ...] = ("train", "predict")
JOB_FILE = "job.json"  # a job's settings, handed to its process


def check_kind(kind: str) -> None:
    """Raises ValueError for a kind of job that does not exist, listing the kinds."""
    if kind not in KINDS or kind == "train":
        raise ValueError(f"unknown job kind {kind!r}; expected one of "
                         f"{', '.join(k for k in KINDS if k != 'train')} (training runs "
                         "start with modelkit.runs.start_run)")


def job_command(kind: str, job_dir: Path) -> list[str]:
    """The command line of a job's one process (``train`` runs have their own).

    Raises:
        ValueError: an unknown kind.
    """
    check_kind(kind)
    return [sys.executable, "-m", "modelkit", kind, "--config", os.fspath(job_dir / JOB_FILE),
            "--job-dir", os.fspath(job_dir)]


def _new_id(root: Path, kind: str) -> str:
    while True:
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"
        if not (root / job_id).exists():
            return job_id


def start_job(kind: str, *, config: dict, parent: str | None = None,
              runs_root: str | os.PathLike | None = None,
              idempotency_key: str | None = None) -> RunInfo:
    """Queue a job and return it at once; it starts now or when a slot frees.

    Args:
        kind: the job's kind (``predict``).
        config: its settings, written to ``<job>/job.json`` (JSON-serialisable; checked
            by the caller).
        parent: the id of the run the job serves (its model), if any.
        runs_root: as for runs.
        idempotency_key: a second start with the same key returns the first job;
            without one, the same kind and config within ``DEDUP_WINDOW_S`` seconds
            (a double click) does.

    Raises:
        ValueError: an unknown kind.
    """
    check_kind(kind)
    digest = reconciler.config_hash({"kind": kind, **config})
    root = paths.runs_root(runs_root)
    now = time.time()
    with registry.transaction(root) as con:
        reconciler.sync(con, root)
        if idempotency_key:
            same = con.execute("SELECT id FROM runs WHERE idempotency_key = ?",
                               (idempotency_key,)).fetchone()
        else:
            same = con.execute("SELECT id FROM runs WHERE config_hash = ? AND created > ?",
                               (digest, now - DEDUP_WINDOW_S)).fetchone()
        if same is not None:
            job_id = same["id"]
        else:
            job_id = _new_id(root, kind)
            job_dir = root / job_id
            job_dir.mkdir(parents=True)
            write_json(job_dir / JOB_FILE, config)
            launch = {"id": job_id, "kind": kind, "parent": parent, "config": config,
                      "cwd": os.getcwd(), "idempotency_key": idempotency_key, "created": now}
            write_json(job_dir / LAUNCH_FILE, launch)
            con.execute(
                "INSERT INTO runs (id, state, config, cwd, idempotency_key, config_hash, created,"
                " queued_at, kind, parent) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, json.dumps(config), launch["cwd"], idempotency_key, digest, now, now,
                 kind, parent))
        dispatch(con, root)
    return registry.show(job_id, runs_root=root)


def list_jobs(*, kind: str, runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """The jobs of one kind, newest first. Only reads."""
    check_kind(kind)
    return [job for job in registry.list_runs(runs_root=runs_root) if job.kind == kind]
