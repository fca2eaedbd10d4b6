"""Single-process training with ``model.fit``: a ``TrainConfig`` in, a run folder out.

``train(config, run_dir=...)`` prepares the data (``prepare``), builds and compiles
the shared model under the machine's strategy (``strategy``), and fits it with:

- ``keras.callbacks.BackupAndRestore`` in ``checkpoints/backup/``: after every epoch
  the weights and the optimizer state with the completed epoch count; a resume (or a
  restart after a crash) continues at the first epoch not completed;
- ``callbacks.MetricsLogger`` and ``callbacks.RunStatus``: ``metrics.jsonl``, the
  heartbeat's position, and CANCEL at the next batch boundary;
- ``keras.callbacks.TensorBoard`` in ``tensorboard/``.

Cancel keeps the checkpoint of the last completed epoch and resume redoes the epoch
that was cut short, from that checkpoint: the resumed run makes exactly the planned
epochs' updates (and its learning-rate schedule stays on plan). A cancel during the
first epoch therefore leaves no checkpoint and the resume starts it again.

Several machines (``TF_CONFIG``) train with
``modelkit.training.multiworker.trainer.train_multi_worker`` instead; the CLI picks.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import keras

from modelkit import model as modellib
from modelkit import precision, runfolder
from modelkit.config import TrainConfig
from modelkit.data.manifest import Dataset
from modelkit.training import artifacts, strategy
from modelkit.training.callbacks import MetricsLogger, RunStatus, TrainingCancelled
from modelkit.training.multiworker.cluster import cluster_task
from modelkit.training.predict import predict_frame
from modelkit.training.prepare import PreparedData, prepare_data


def train(
    config: TrainConfig,
    *,
    run_dir: str | os.PathLike,
    resume: bool = False,
    dataset: Dataset | None = None,
    callbacks: list | tuple = (),
    verbose: int | str = "auto",
) -> Path:
    """Train the shared model and write the run folder; return its path.

    Args:
        config: what to train. With ``resume`` the run's own config.json wins
            (only ``epochs`` may be raised to train further).
        run_dir: the run folder (created).
        resume: continue from ``checkpoints/backup/`` at the first epoch not
            completed. Without it, a checkpoint left in ``run_dir`` is discarded and
            training starts over.
        dataset: a ``modelkit.data.manifest.Dataset`` to use instead of loading
            ``config.source`` (tests, notebooks).
        callbacks: extra Keras callbacks (run after the project's own).
        verbose: Keras progress output (``auto``: a bar on a terminal, a line per
            epoch in a log file).

    Raises:
        ValueError: ``TF_CONFIG`` names a cluster (use ``train_multi_worker``).
        Whatever failed; ``status.json`` then says ``failed`` with the error and its
        traceback. A cancelled run returns normally with state ``cancelled``.
    """
    if cluster_task() is not None:
        raise ValueError("TF_CONFIG names a cluster, so this process is one worker of it: "
                         "train with modelkit.training.multiworker.trainer.train_multi_worker "
                         "(`python -m modelkit train` does), or unset TF_CONFIG")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config = artifacts.run_config(config, run_dir=run_dir, resume=resume)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    status = runfolder.StatusWriter(run_dir, epochs=config.epochs)
    timings = PhaseTimer()
    with status.failing_on_error(), precision.restored_policy():
        state = _train(config, run_dir=run_dir, resume=resume, dataset=dataset,
                       status=status, callbacks=list(callbacks), verbose=verbose,
                       timings=timings)
    status.close(state=state, wall_seconds=timings.seconds)
    print(f"run {state} in {timings.summary()}", flush=True)
    return run_dir


class PhaseTimer:
    """The run's wall clock from ``train`` to ``predictions.parquet``, split by phase:
    the figure a user waits for (a first run also decodes the images), not the fit
    alone. ``status.json`` keeps the phases as ``wall_seconds``."""

    def __init__(self):
        self.start = self.mark = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self.mark, 1)
        self.seconds["total"] = round(now - self.start, 1)
        self.mark = now

    def summary(self) -> str:
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items() if k != "total")
        return f"{self.seconds.get('total', 0) / 60:.1f} min ({phases})"


def _train(config: TrainConfig, *, run_dir: Path, resume: bool, dataset, status,
           callbacks: list, verbose, timings: PhaseTimer) -> str:
    keras.utils.set_random_seed(config.seed)
    devices, chosen = strategy.local_strategy(config.precision, config.backbone)
    print(f"precision: {chosen}", flush=True)
    data = prepare_data(config, dataset=dataset)
    timings.lap("data")
    artifacts.write_run_config(run_dir, config, race_classes=data.race_classes,
                               heads=data.trained_heads,
                               age_is_range=data.dataset.age_is_range,
                               split_sizes=data.split_sizes, precision_used=chosen.name,
                               precision_reason=chosen.reason, **data.run_extras)
    status.update(steps_per_epoch=data.steps_per_epoch)
    backup_dir = run_dir / runfolder.BACKUP_DIR
    if not resume:
        shutil.rmtree(backup_dir, ignore_errors=True)
    with devices.scope():
        model = modellib.run_model(config, race_classes=data.race_classes,
                                   steps_per_epoch=data.steps_per_epoch)
    fit_callbacks = [
        # First, so a later callback that fails at an epoch's end finds the epoch saved.
        keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False),
        MetricsLogger(run_dir, steps=data.steps_per_epoch, batch_size=data.batch_size,
                      n_images=data.images_per_epoch, every=config.progress_every),
        RunStatus(status, run_dir),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / runfolder.TENSORBOARD_DIR),
                                    write_graph=False),
        # Validation (so metrics.jsonl) sees the averaged weights that the run will save.
        *([keras.callbacks.SwapEMAWeights()] if config.ema else []),
        *callbacks,
    ]
    try:
        # The tf.data pipeline already shuffles; shuffle=False only silences Keras's
        # warning that it would ignore its own shuffle on a dataset.
        model.fit(data.train, validation_data=data.val, epochs=config.epochs, shuffle=False,
                  callbacks=fit_callbacks, verbose=verbose)
    except TrainingCancelled:
        timings.lap("training")
        return "cancelled"
    timings.lap("training")
    _write_outputs(model, data, config=config, run_dir=run_dir)
    timings.lap("predictions")
    status.update(epoch=config.epochs, batch=0)
    return "finished"


def _write_outputs(model: keras.Model, data: PreparedData, *, config: TrainConfig,
                   run_dir: Path) -> None:
    """The final model, in float32 whatever the run trained in, and its predictions on
    the evaluation splits."""
    model = precision.float32_model(model)
    model.save(run_dir / runfolder.MODEL_FILE)
    frame = predict_frame(model, data.evaluation, image_size=config.image_size,
                          batch_size=config.batch_size, race_classes=data.race_classes,
                          trained_heads=data.trained_heads, cache=config.cache)
    artifacts.write_predictions(run_dir, frame)
