"""Jobs other than training (predictions, rankings), queued and supervised like a run.

A prediction on another dataset or a ranking of suspect labels takes minutes on a
CPU, so the pages start them in the background, the way the Train page starts a run:
one queue (:mod:`modelkit.runs.queue`), a folder under the runs root, a ``queued``
row (``kind``, and ``parent`` = the run it serves), and the same supervisor, cancel and
reconcile. The job is handed a file, ``<job>/job.json`` (its settings). The job
writes ``status.json`` and ``metrics.jsonl`` progress lines like a trainer. What a
kind of job does lives with it (predictions: ``modelkit.prediction.background``,
rankings: ``modelkit.curation.ranking``); this module imports none of them.

Example::

    job = start_job("predict", config=request.to_dict(), parent="20260101-...")
    wait(job.id).state          # "finished"
"""

from __future__ import annotations

import os

from modelkit import paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor
from modelkit.runs import queue, reconciler, registry
from modelkit.runs.info import RunInfo
from modelkit.runs.queue import JOB_FILE

__all__ = ["JOB_FILE", "list_jobs", "start_job"]


def _check_job_kind(kind: str) -> None:
    queue.check_kind(kind)
    if kind == "train":
        raise ValueError("training runs start with modelkit.runs.start_run, which checks "
                         "their config; start_job takes the other kinds: "
                         + ", ".join(k for k in queue.KINDS if k != "train"))


def start_job(kind: str, *, config: dict, parent: str | None = None,
              runs_root: str | os.PathLike | None = None,
              idempotency_key: str | None = None, actor: Actor | None = None) -> RunInfo:
    """Queue a job and return it at once; it starts now or when a slot frees.

    Args:
        kind: the job's kind (``predict``, ``rank``).
        config: its settings, written to ``<job>/job.json`` (JSON-serialisable; checked
            by the caller).
        parent: the id of the run the job serves (its model), if any.
        runs_root: as for runs.
        idempotency_key: a second start with the same key returns the first job;
            without one, the same kind and config within ``DEDUP_WINDOW_S`` seconds
            (a double click) does.
        actor: who starts it (default the OS user): checked for ``job.start``, recorded
            as ``started_by``, held to their quota, audited.

    Raises:
        ValueError: an unknown kind, or ``train``.
        modelkit.access.AccessDenied: the actor may not start jobs, or is at their quota.
    """
    _check_job_kind(kind)
    actor = actor or local_actor()
    root = paths.runs_root(runs_root)
    with audited(actor, "job.start", runs_root=root, target=parent) as entry:
        with registry.transaction(root) as con:
            reconciler.sync(con, root)
            entry.target = queue.submit(con, root, kind=kind, settings=config, parent=parent,
                                        idempotency_key=idempotency_key, actor=actor)
            queue.dispatch(con, root)
    return registry.show(entry.target, runs_root=root)


def list_jobs(*, kind: str, runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """The jobs of one kind, newest first. Only reads."""
    _check_job_kind(kind)
    return [job for job in registry.list_runs(runs_root=runs_root) if job.kind == kind]
