"""A prediction run as a background job: its folder's status, progress and cancel.

The run registry (``modelkit.runs.jobs``) queues a prediction like a training run and
its supervisor runs ``python -m modelkit predict --config <job>/job.json --job-dir
<job>``. This module is what that process does with the job folder, through the run
folder writers of ``modelkit.training.artifacts``: ``status.json`` (heartbeat, images
done as ``batch`` of ``steps_per_epoch``, the final state), ``metrics.jsonl`` progress
lines (the ETA), and the ``CANCEL`` file checked between chunks. So the Runs page, the
reconciler and ``runs wait`` treat it as they treat a training run.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from modelkit.prediction.dataset import PredictionCancelled, PredictionResult, predict_dataset
from modelkit.prediction.request import PredictRequest
from modelkit.runfolder import MetricsFile, StatusWriter, cancel_requested, write_json

RESULT_FILE = "result.json"


def run_job(request: PredictRequest, *, job_dir: str | os.PathLike) -> PredictionResult | None:
    """Predict as the job in ``job_dir``; None when it was cancelled.

    ``result.json`` in the job folder names the evaluation set written (``eval_dir``,
    ``run_dir``, ``name``, ``n_images``, ``n_skipped``).

    Raises:
        whatever :func:`predict_dataset` raises, after ``status.json`` says ``failed``
        with the message.
    """
    folder = Path(job_dir)
    status = StatusWriter(folder, epochs=1)
    metrics = MetricsFile(folder)
    started = time.time()

    def progress(done: int, total: int) -> None:
        steps = math.ceil(total / request.batch_size)
        batch = math.ceil(done / request.batch_size)
        speed = done / max(time.time() - started, 1e-9)
        status.update(batch=batch, steps_per_epoch=steps)
        metrics.append({"type": "progress", "epoch": 1, "batch": batch, "steps": steps,
                        "images": done, "images_total": total, "loss": None,
                        "images_per_s": speed, "time": time.time()})

    with status.failing_on_error():
        try:
            result = predict_dataset(request, progress=progress,
                                     should_stop=lambda: cancel_requested(folder))
        except PredictionCancelled:
            status.close(state="cancelled")
            return None
        write_json(folder / RESULT_FILE, {
            "eval_dir": str(result.path), "run_dir": result.info["run_dir"],
            "name": result.info["name"], "n_images": result.info["n_images"],
            "n_skipped": result.info["n_skipped"]})
    status.close(state="finished", epoch=1)
    return result
