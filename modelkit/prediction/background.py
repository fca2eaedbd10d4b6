"""A prediction started in the background: a ``predict`` job in the run registry.

The Evaluate page's form calls :func:`start_prediction`; the registry queues the job
like a training run (``modelkit.runs.jobs``), its supervisor runs ``python -m modelkit
predict --config <job>/job.json --job-dir <job>`` and that process reports through
:mod:`modelkit.prediction.job`. The evaluation set lands in the run's ``eval/<NAME>/``.

Example::

    job = start_prediction(PredictRequest(run_dir="runs/abc", source="fairface",
                                          root="../shared/data/fairface_sample"))
    runs.wait(job.id).state          # "finished": runs/abc/eval/fairface/ is there
"""

from __future__ import annotations

import os
from pathlib import Path

from modelkit import paths
from modelkit.access.roles import Actor
from modelkit.prediction.request import PredictRequest
from modelkit.runs import jobs
from modelkit.runs.info import RunInfo

KIND = "predict"


def start_prediction(request: PredictRequest, *, runs_root: str | os.PathLike | None = None,
                     idempotency_key: str | None = None, actor: Actor | None = None) -> RunInfo:
    """Queue a prediction of a run's model on another dataset; returns the job at once.

    The run must hold its model already (checked here: nothing is queued otherwise).
    Deduplication, ``actor`` and its checks as :func:`modelkit.runs.jobs.start_job`.

    Raises:
        FileNotFoundError: no run folder, or no ``model.keras`` in it.
    """
    from modelkit.prediction.predictors import check_run_model

    request = request.with_absolute_paths()
    check_run_model(request.run_dir)
    run_dir = Path(request.run_dir)
    parent = run_dir.name if run_dir.parent == paths.runs_root(runs_root) else None
    return jobs.start_job(KIND, config=request.to_dict(), parent=parent, runs_root=runs_root,
                          idempotency_key=idempotency_key, actor=actor)


def prediction_jobs(run_dir: str | os.PathLike, *,
                    runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """The prediction jobs of one run (its model), newest first. Only reads."""
    target = os.path.abspath(run_dir)
    return [job for job in jobs.list_jobs(kind=KIND, runs_root=runs_root)
            if job.config.get("run_dir") == target]
