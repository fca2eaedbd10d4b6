"""One worker of a ``TF_CONFIG`` cluster: ``MultiWorkerMirroredStrategy`` training.

Every worker runs the same ``python -m modelkit train ...`` command, holds a full copy
of the model, trains on its share of each global batch with the custom step of
``step.DistributedSteps`` (Keras 3's ``model.fit`` fails under this strategy on TF
2.21, keras-team/keras#20585), and the strategy all-reduces the gradients. The data
comes from the same ``prepare_data`` as single-process training, and the run folder
is written through the same ``artifacts``.

Scaling: ``batch_size`` is per replica; the global batch is ``batch_size x replicas``
and the learning rate ``lr x replicas`` (the linear scaling rule, Goyal et al.,
"Accurate, Large Minibatch SGD", 2017).

Only the chief (worker 0, or the ``chief`` task) writes the run folder. Checkpoints
(``tf.train.CheckpointManager``; Keras's ``BackupAndRestore`` needs ``model.fit``) are
written by every worker, since saving is a collective operation: the chief's to
``checkpoints/multiworker/``, the others' to a scratch folder deleted at once. A
worker started again on a run folder holding such a checkpoint resumes from it, with
or without ``resume`` (as ``BackupAndRestore`` would), so a scheduler may simply
restart a failed job.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf

from modelkit import model as modellib
from modelkit import objectives, runfolder
from modelkit.config import TrainConfig
from modelkit.data.manifest import Dataset
from modelkit.data.tuning import PREFETCH_BATCHES
from modelkit.precision import Precision, float32_model
from modelkit.training import artifacts, strategy
from modelkit.training.multiworker.cluster import ClusterTask, cluster_task
from modelkit.training.multiworker.step import DistributedSteps, accumulate, epoch_logs, masked_padding
from modelkit.training.predict import predict_frame
from modelkit.training.prepare import prepare_data


def train_multi_worker(config: TrainConfig, *, run_dir: str | os.PathLike, resume: bool = False,
                       dataset: Dataset | None = None, verbose: int | str = "auto") -> Path:
    """Train ``config`` as this worker of the ``TF_CONFIG`` cluster (see the module
    docstring). The chief writes ``run_dir`` as single-process training does, plus a
    ``distribution`` entry in config.json and ``workers``/``replicas``/
    ``global_batch_size``/``images`` in the epoch lines; the others write nothing
    there. Returns ``run_dir``.

    Raises:
        ValueError: ``TF_CONFIG`` is unset or names no cluster.
    """
    task = cluster_task()
    if task is None:
        raise ValueError("train_multi_worker needs TF_CONFIG naming the cluster; without "
                         "it, train with modelkit.training.fit.train")
    # Before any other TensorFlow op.
    devices, chosen = strategy.multi_worker_strategy(config.precision, config.backbone)
    run_dir = Path(run_dir).resolve()
    if task.is_chief:
        run_dir.mkdir(parents=True, exist_ok=True)
    config = artifacts.run_config(config, run_dir=run_dir, resume=resume)
    status = runfolder.StatusWriter(run_dir, epochs=config.epochs) if task.is_chief else None
    print(f"precision: {chosen}", flush=True)
    worker = _Worker(config, run_dir=run_dir, task=task, devices=devices, precision=chosen,
                     status=status,
                     verbose=1 if verbose == "auto" and sys.stdout.isatty() else verbose)
    try:
        if status is None:
            state = worker.run(dataset)
        else:
            with status.failing_on_error():
                state = worker.run(dataset)
    finally:
        worker.close()
    if status is not None:
        status.close(state=state)
    return run_dir


@contextmanager
def averaged_weights(model: keras.Model, *, enabled: bool):
    """Inside, ``model`` holds its optimizer's weight average (EMA) instead of the
    trained weights, which come back on exit: validation then scores the weights
    that will be saved, as ``SwapEMAWeights`` makes ``model.fit`` do. The swap is
    the callback's own, in place."""
    if not enabled:
        yield
        return
    swap = keras.callbacks.SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()
    try:
        yield
    finally:
        swap.on_test_end()


class _Worker:
    """One worker's run: data, model, checkpoints, the epoch loop and the outputs."""

    def __init__(self, config: TrainConfig, *, run_dir: Path, task: ClusterTask, devices,
                 precision: Precision, status: runfolder.StatusWriter | None, verbose):
        self.config, self.run_dir, self.task, self.devices = config, run_dir, task, devices
        self.precision = precision
        self.status, self.verbose = status, verbose
        self.replicas = devices.num_replicas_in_sync
        self.global_batch = config.batch_size * self.replicas
        self.own_dir: Path | None = None

    def close(self) -> None:
        """Remove a non-chief worker's scratch checkpoint folder."""
        if self.own_dir is not None and not self.task.is_chief:
            shutil.rmtree(self.own_dir, ignore_errors=True)

    # -- setup
    def _prepare(self, dataset) -> None:
        keras.utils.set_random_seed(self.config.seed)
        self.data = prepare_data(self.config, dataset=dataset, batch_size=self.global_batch)
        self.train_ds = self._distributed(self.data.train, training=True)
        self.val_ds = None if self.data.val is None else self._distributed(
            self.data.val, training=False, pad=-len(self.data.parts["val"]) % self.global_batch)

    def _distributed(self, ds: tf.data.Dataset, *, training: bool, pad: int = 0):
        """``ds`` in full global batches, split by the strategy into per-replica ones.

        Every replica must get a non-empty batch at every step, so training draws
        ``steps_per_epoch`` full batches per epoch from the repeated, reshuffled stream
        (the last batch of an epoch tops up from the next pass), and validation is
        padded to whole batches with masked rows (labels -1, counted nowhere).
        ``AutoShardPolicy.DATA``: each worker keeps its own part of every global
        batch, so together the workers see each image once per epoch."""
        ds = ds.unbatch()
        ds = ds.repeat() if training else ds.concatenate(masked_padding(ds.element_spec, count=pad))
        ds = ds.batch(self.global_batch, drop_remainder=True).prefetch(PREFETCH_BATCHES)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        return self.devices.experimental_distribute_dataset(ds.with_options(options))

    def _build_model(self) -> int:
        """Build, compile and restore the model; return the completed epochs."""
        config = self.config
        with self.devices.scope():
            self.model = modellib.run_model(config, race_classes=self.data.race_classes,
                                            steps_per_epoch=self.data.steps_per_epoch,
                                            lr_scale=self.replicas)
            self.model.optimizer.build(self.model.trainable_variables)
            self.epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.steps = DistributedSteps(self.model, strategy=self.devices,
                                      loss_weights=config.loss_weights,
                                      losses=objectives.loss_settings(config))
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer,
                                         epoch=self.epoch_var)
        chief_dir = self.run_dir / runfolder.MULTIWORKER_CHECKPOINTS
        self.own_dir = chief_dir if self.task.is_chief else Path(
            tempfile.mkdtemp(prefix=f"facescope-worker{self.task.task_index}-ckpt-"))
        self.manager = tf.train.CheckpointManager(checkpoint, str(self.own_dir), max_to_keep=1)
        latest = tf.train.latest_checkpoint(str(chief_dir))
        if latest:  # BackupAndRestore-style: a restarted worker continues
            checkpoint.restore(latest).expect_partial()
        return int(self.epoch_var.numpy())

    # -- the loop
    def run(self, dataset) -> str:
        self._prepare(dataset)
        initial_epoch = self._build_model()
        self.train_iter = iter(self.train_ds)
        if self.task.is_chief:
            self._write_config()
            self.metrics = runfolder.MetricsFile(self.run_dir)
            self.metrics.truncate(after_epoch=initial_epoch)
            self.status.update(epoch=initial_epoch, steps_per_epoch=self.data.steps_per_epoch)
            self.summary = tf.summary.create_file_writer(
                str(self.run_dir / runfolder.TENSORBOARD_DIR))
        for epoch in range(initial_epoch, self.config.epochs):
            if not self._train_epoch(epoch):
                self._save_checkpoint(epoch)
                return "cancelled"
            self._save_checkpoint(epoch + 1)
        if self.config.ema:  # as model.fit ends: the averaged weights become the model's
            self.model.optimizer.finalize_variable_values(self.model.trainable_variables)
        self._save_model()
        if self.task.is_chief:
            self._write_predictions()
        return "finished"

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch of steps, the validation pass and the epoch line; False when a
        CANCEL file in the chief's run folder stopped it (every worker stops: the
        chief's flag is summed across the workers inside the step)."""
        if self.status:
            self.status.update(epoch=epoch, batch=0)
        start, totals, steps = time.time(), {}, self.data.steps_per_epoch
        weights = self.steps.weights
        for batch in range(1, steps + 1):
            cancel = self.task.is_chief and runfolder.cancel_requested(self.run_dir)
            stats = self.steps.train(next(self.train_iter), cancel)
            if stats.pop("cancel") > 0:
                return False
            accumulate(totals, stats)
            if self.status:
                self.status.update(batch=batch)
                if batch % max(1, self.config.progress_every) == 0:
                    self.metrics.append(artifacts.progress_line(
                        epoch=epoch + 1, batch=batch, steps=steps,
                        loss=epoch_logs(stats, weights)["loss"],
                        images_per_s=self._rate(batch, start)))
        rate, logs = self._rate(steps, start), epoch_logs(totals, weights)
        if self.val_ds is not None:
            val = {}
            with averaged_weights(self.model, enabled=self.config.ema):
                for inputs in self.val_ds:
                    accumulate(val, self.steps.evaluate(inputs))
            logs |= {f"val_{k}": v for k, v in epoch_logs(val, weights).items()
                     if k != "images"}  # padded
        if self.task.is_chief:
            self._report_epoch(epoch, rate=rate, logs=logs)
        return True

    def _report_epoch(self, epoch: int, *, rate: float, logs: dict) -> None:
        self.metrics.append(artifacts.epoch_line(
            epoch=epoch + 1, images_per_s=rate, logs=logs, workers=self.task.workers,
            replicas=self.replicas, global_batch_size=self.global_batch))
        if self.verbose:
            print(f"epoch {epoch + 1}/{self.config.epochs} ({self.task.workers} workers): "
                  + " ".join(f"{k}={v:.4g}" for k, v in logs.items() if v is not None), flush=True)
        with self.summary.as_default():
            for key, value in logs.items():
                if value is not None:
                    tf.summary.scalar(key, value, step=epoch + 1)
        self.status.update(epoch=epoch + 1, batch=0)

    def _rate(self, batches: int, start: float) -> float:
        seen = min(batches * self.global_batch, self.data.images_per_epoch)
        return seen / max(time.time() - start, 1e-9)

    # -- outputs
    def _write_config(self) -> None:
        artifacts.write_run_config(
            self.run_dir, self.config, race_classes=self.data.race_classes,
            heads=self.data.trained_heads,
            age_is_range=self.data.dataset.age_is_range, split_sizes=self.data.split_sizes,
            precision_used=self.precision.name, precision_reason=self.precision.reason,
            **self.data.run_extras,
            distribution={"strategy": "MultiWorkerMirroredStrategy", "workers": self.task.workers,
                          "replicas": self.replicas, "global_batch_size": self.global_batch,
                          "lr_scaled": self.config.lr * self.replicas})

    def _save_checkpoint(self, completed_epochs: int) -> None:
        """Every worker saves (a collective); only the chief's copy is kept."""
        self.epoch_var.assign(completed_epochs)
        self.manager.save()
        if not self.task.is_chief:
            shutil.rmtree(self.own_dir, ignore_errors=True)

    def _save_model(self) -> None:
        """Every worker saves (a collective) the model in float32; the others' copies go
        to scratch."""
        model = float32_model(self.model)
        if self.task.is_chief:
            model.save(self.run_dir / runfolder.MODEL_FILE)
            return
        scratch = Path(tempfile.mkdtemp(prefix="facescope-worker-model-"))
        model.save(scratch / runfolder.MODEL_FILE)
        shutil.rmtree(scratch, ignore_errors=True)

    def _write_predictions(self) -> None:
        """Predictions from the saved model, loaded outside the strategy: a plain
        local ``predict`` on the chief that needs no other worker."""
        model = keras.saving.load_model(self.run_dir / runfolder.MODEL_FILE)
        artifacts.write_predictions(self.run_dir, predict_frame(
            model, self.data.evaluation, image_size=self.config.image_size,
            batch_size=self.config.batch_size, race_classes=self.data.race_classes,
            trained_heads=self.data.trained_heads, cache=self.config.cache))
