"""Ranking suspect labels as a background job of the one queue.

Ranking embeds every image and cross-validates a classifier per head: minutes of all
the cores on a CPU. So the Review page never ranks in its own process: it queues a
``rank`` job (:mod:`modelkit.runs.jobs`) that waits behind any training run, and its
supervisor runs ``python -m modelkit labels rank --config <job>/job.json --job-dir
<job>``, which reports through the job folder's ``status.json`` like a trainer
(:func:`run_job`). :func:`ranking_state` reads the latest job of a run from the
registry together with the run's ``suspects.*`` files.

Example::

    job = start_ranking("runs/20241123-small_cnn-utkface")
    runs.wait(job.id).state                                   # "finished"
    ranking_state("runs/20241123-small_cnn-utkface").state    # "done"
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from modelkit.access.roles import Actor
from modelkit.curation.ranking import RankResult, rank_run, read_meta, suspects_path
from modelkit.curation.suspects import DEFAULT_FOLDS
from modelkit.runfolder import ACTIVE, LOG_FILE, MODEL_FILE, StatusWriter
from modelkit.runs import jobs
from modelkit.runs.info import RunInfo

KIND = "rank"


@dataclass(frozen=True)
class RankingState:
    """``state``: ``none`` (never ranked), ``queued`` (waiting for a free slot),
    ``running``, ``done``, ``stale`` (the model changed since) or ``failed``;
    ``message`` says what is going on or what to do."""

    state: str
    message: str = ""


def rank_settings(run_dir: str | os.PathLike, *, folds: int = DEFAULT_FOLDS, seed: int = 0) -> dict:
    """A rank job's ``job.json``, checked at the door.

    Raises:
        FileNotFoundError: the run has no trained model to rank with.
        ValueError: fewer than 2 folds.
    """
    run_dir = Path(run_dir).resolve()
    if not (run_dir / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{run_dir / MODEL_FILE} not found: rank a finished run")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer of at least 2; got {folds!r}")
    return {"run_dir": os.fspath(run_dir), "folds": folds, "seed": int(seed)}


def start_ranking(run_dir: str | os.PathLike, *, folds: int = DEFAULT_FOLDS, seed: int = 0,
                  runs_root: str | os.PathLike | None = None, actor: Actor | None = None) -> RunInfo:
    """Queue a ranking of the run's labels; returns the job at once. A ranking of the
    same run already queued or running is returned instead of a second one. ``actor``
    and its checks as :func:`modelkit.runs.jobs.start_job`."""
    settings = rank_settings(run_dir, folds=folds, seed=seed)
    current = latest_job(settings["run_dir"], runs_root=runs_root)
    if current is not None and current.state in ("queued", *ACTIVE):
        return current
    parent = Path(settings["run_dir"]).name
    return jobs.start_job(KIND, config=settings, parent=parent, runs_root=runs_root, actor=actor)


def latest_job(run_dir: str | os.PathLike, *, runs_root: str | os.PathLike | None = None) -> RunInfo | None:
    """The newest rank job of the run, if any. Only reads."""
    target = os.fspath(Path(run_dir).resolve())
    mine = [job for job in jobs.list_jobs(kind=KIND, runs_root=runs_root)
            if job.config.get("run_dir") == target]
    return mine[0] if mine else None


def ranking_state(run_dir: str | os.PathLike, *,
                  runs_root: str | os.PathLike | None = None) -> RankingState:
    """Where the run's ranking stands (the latest job, then the files)."""
    run_dir = Path(run_dir)
    job, meta = latest_job(run_dir, runs_root=runs_root), read_meta(run_dir)
    if job is not None and job.state == "queued":
        return RankingState("queued", "ranking waits in the queue for the job running now "
                            "(one job at a time) to end")
    if job is not None and job.state in ACTIVE:
        began = time.strftime("%H:%M:%S", time.localtime(job.started or time.time()))
        return RankingState("running", f"ranking in the background (started {began})")
    if job is not None and job.state in ("failed", "cancelled") and \
            float(meta.get("created") or 0) < float(job.created or 0):
        return RankingState("failed", f"the last ranking {job.state} without a result"
                            + (f": {job.error}" if job.error else "")
                            + f" (log: {Path(job.run_dir) / LOG_FILE})")
    if not suspects_path(run_dir).is_file():
        return RankingState("none", "not ranked yet")
    model_file = run_dir / MODEL_FILE
    if model_file.is_file() and meta.get("model_mtime") and \
            abs(model_file.stat().st_mtime - meta["model_mtime"]) > 1e-3:
        return RankingState("stale", "the model was retrained since this ranking; rank again")
    return RankingState("done", "")


def run_job(settings: dict, *, job_dir: str | os.PathLike) -> RankResult:
    """Rank as the job in ``job_dir`` (``labels rank --job-dir``): ``status.json`` says
    running, then finished, or failed with the error.

    Raises:
        whatever :func:`rank_run` raises, after ``status.json`` says ``failed``.
    """
    status = StatusWriter(Path(job_dir), epochs=1)
    with status.failing_on_error():
        result = rank_run(settings["run_dir"], folds=int(settings.get("folds", DEFAULT_FOLDS)),
                          seed=int(settings.get("seed", 0)))
    status.close(state="finished", epoch=1)
    return result
