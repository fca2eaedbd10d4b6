"""Training on several workers with ``tf.distribute.MultiWorkerMirroredStrategy``.

``TF_CONFIG`` (TensorFlow's own cluster description) selects this path: every worker
runs the same ``python -m modelkit train ...`` command, holds a full copy of the model,
trains on its share of each global batch, and the strategy all-reduces the gradients.

Keras 3's ``model.fit`` fails under this strategy on TF 2.21 (keras-team/keras#20585),
so this module runs its own step under ``strategy.run``: the same masked per-head
losses and loss weights as ``model.compile`` (``modelkit.model.head_losses``), the
compiled optimizer's ``apply_gradients`` (which all-reduces the gradients). Single
process training keeps ``model.fit`` (``modelkit.train``).

Scaling: ``--batch-size`` is per replica; the global batch is ``batch_size x
replicas`` and the learning rate is ``lr x replicas`` (the linear scaling rule,
Goyal et al., "Accurate, Large Minibatch SGD", 2017).

Only the chief (worker 0, or the ``chief`` task) writes the run folder. Checkpoints
are written by every worker (saving is a collective operation): the chief's to
``checkpoints/multiworker/`` in the run folder, the others' to a temporary folder
deleted at once. A worker started again on a run folder holding such a checkpoint
resumes from it, like ``keras.callbacks.BackupAndRestore``.

``launch_local_workers`` starts N workers on 127.0.0.1 with generated ``TF_CONFIG``s,
for trying it on one machine (``python -m modelkit train --workers N``).

Example:
    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m modelkit train --source utkface --root /data/utk --run-dir /shared/runs/r1
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

MULTIWORKER_CHECKPOINTS = Path("checkpoints") / "multiworker"
POLL_S = 0.2


# ------------------------------------------------------------------------ the cluster
@dataclass(frozen=True)
class ClusterTask:
    """Where this process stands in the ``TF_CONFIG`` cluster."""

    workers: int  # processes that train (workers + the chief task, if any)
    task_type: str
    task_index: int
    is_chief: bool


def cluster_task(environ: dict | None = None) -> ClusterTask | None:
    """This process's task from ``TF_CONFIG``, or None when it is unset or empty.

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON, has no ``cluster`` with workers, or its
            ``task`` is not in the cluster.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}); expected e.g. "
                         '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                         '"task": {"type": "worker", "index": 0}}') from None
    cluster, task = spec.get("cluster") or {}, spec.get("task") or {}
    trainers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    task_type, index = task.get("type"), task.get("index", 0)
    if not trainers:
        raise ValueError(f"TF_CONFIG names no workers: cluster={cluster!r}; expected a "
                         '"worker" list of host:port addresses')
    if task_type not in ("worker", "chief") or not 0 <= int(index) < len(
            cluster.get(task_type, [])):
        raise ValueError(f"TF_CONFIG task {task!r} is not a worker or chief of the cluster "
                         f"{cluster!r}; set task.type and task.index to this host's entry")
    is_chief = task_type == "chief" or ("chief" not in cluster and int(index) == 0)
    return ClusterTask(workers=trainers, task_type=task_type, task_index=int(index),
                       is_chief=is_chief)


def make_strategy():
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``: ring all-reduce on CPUs (the
    only collective implementation there), NCCL where GPUs are (``AUTO``)."""
    import tensorflow as tf

    impl = tf.distribute.experimental.CommunicationImplementation
    gpus = tf.config.list_physical_devices("GPU")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.AUTO if gpus else impl.RING)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _set_precision_policy() -> None:
    """Mixed float16 on a GPU (the compiled optimizer then scales the loss), float32
    on a CPU: the same choice as ``modelkit.train.choose_strategy``."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "float32")


def free_ports(n: int, *, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` right now (bound together, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_configs(workers: int, *, host: str = "127.0.0.1") -> list[dict]:
    """One ``TF_CONFIG`` per local worker: the same cluster, each its own index."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    cluster = {"worker": [f"{host}:{port}" for port in free_ports(workers, host=host)]}
    return [{"cluster": cluster, "task": {"type": "worker", "index": i}}
            for i in range(workers)]


# ------------------------------------------------------------------------ the launcher
def launch_local_workers(
    train_argv: list[str],
    *,
    workers: int,
    run_dir: str | os.PathLike,
    timeout_s: float | None = None,
) -> int:
    """Run ``python -m modelkit train <train_argv> --run-dir run_dir`` as ``workers``
    processes on 127.0.0.1 with generated ``TF_CONFIG``s; wait for them.

    Worker 0 is the chief: its output goes to ours and it writes ``run_dir``. The other
    workers' output goes to ``<tmp>/facescope-worker-<i>.log`` (named on our stderr),
    since only the chief writes the run folder. When one worker fails the others would
    wait for it in an all-reduce forever, so they are stopped.

    Returns:
        0 when every worker succeeded, else the first failure's exit status.
    """
    run_dir = Path(run_dir).resolve()
    log_dir = Path(tempfile.mkdtemp(prefix="facescope-workers-"))
    procs, logs = [], []
    for i, tf_config in enumerate(local_tf_configs(workers)):
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
        cmd = [sys.executable, "-m", "modelkit", "train", *train_argv, "--run-dir", str(run_dir)]
        out = None
        if i:
            out = (log_dir / f"facescope-worker-{i}.log").open("w")
            logs.append(out)
            print(f"worker {i}: log in {out.name}", file=sys.stderr)
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if out
                                      else None))
    try:
        return _wait_workers(procs, timeout_s=timeout_s)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for out in logs:
            out.close()


def _wait_workers(procs: list[subprocess.Popen], *, timeout_s: float | None) -> int:
    """Poll until every worker ended; stop the rest when one fails or time is up.
    Returns 0, the exit status of the first worker seen failing (the chief's first
    when they ended together), or 124 when the deadline stopped them."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while any(p.poll() is None for p in procs):
        failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
        timed_out = deadline is not None and time.monotonic() > deadline
        if failed or timed_out:
            print(f"stopping the workers: {'a worker failed' if failed else 'timed out'}",
                  file=sys.stderr)
            _stop(procs)
            return failed[0] if failed else 124
        time.sleep(POLL_S)
    return next((p.returncode for p in procs if p.returncode != 0), 0)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate the workers still running (ours), killing those that linger."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --------------------------------------------------------------------------- training
def train_multi_worker(config, *, run_dir: str | os.PathLike, resume: bool = False,
                       dataset=None, verbose: int | str = "auto") -> Path:
    """Train ``config`` as this worker of the ``TF_CONFIG`` cluster (see the module
    docstring). The chief writes ``run_dir`` like ``modelkit.train.train`` does (plus
    ``workers``/``replicas`` in config.json and the epoch lines); the others write
    nothing there. Returns ``run_dir``."""
    from modelkit import train as trainlib

    task = cluster_task()
    if task is None:
        raise ValueError("train_multi_worker needs TF_CONFIG naming the cluster; "
                         "unset, train with modelkit.train.train")
    strategy = make_strategy()  # before any other TensorFlow op, as MWMS requires
    _set_precision_policy()
    run_dir = Path(run_dir).resolve()
    if task.is_chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume and (run_dir / "config.json").exists():
            config = dataclasses.replace(trainlib.load_config(run_dir), epochs=config.epochs)
    config = trainlib._absolute_paths(config)
    status = trainlib.StatusWriter(run_dir, epochs=config.epochs) if task.is_chief else None
    trainer = _Trainer(config, run_dir=run_dir, task=task, strategy=strategy,
                       dataset=dataset, status=status, verbose=verbose)
    try:
        state = trainer.run()
    except BaseException as exc:
        if status:
            status.close(state="failed", error=f"{type(exc).__name__}: {exc}",
                         traceback=traceback.format_exc())
        raise
    finally:
        trainer.close()
    if status:
        status.close(state=state)
    return run_dir


class _Trainer:
    """One worker's training run: data, model, the distributed step, the epoch loop."""

    def __init__(self, config, *, run_dir, task, strategy, dataset, status, verbose):
        self.config, self.run_dir, self.task = config, run_dir, task
        self.strategy, self.status = strategy, status
        self.verbose = 1 if verbose == "auto" and sys.stdout.isatty() else verbose
        self.dataset = dataset

    def close(self) -> None:
        """Remove a non-chief worker's scratch checkpoint folder."""
        own = getattr(self, "own_dir", None)
        if own is not None and not self.task.is_chief:
            shutil.rmtree(own, ignore_errors=True)

    # -- setup
    def _prepare_data(self):
        import keras
        import numpy as np
        from modelkit import labels, pipeline
        from modelkit import train as trainlib

        config = self.config
        keras.utils.set_random_seed(config.seed)
        data = trainlib._load(config, self.dataset)
        manifest = data.manifest.reset_index(drop=True)
        self.parts = {s: manifest[manifest["split"].astype(object) == s].reset_index(drop=True)
                      for s in labels.SPLITS}
        if self.parts["train"].empty:
            raise ValueError(f"the {config.source} dataset has no training images "
                             f"({len(manifest)} images in all); check --root / --limit")
        self.data = data
        self.replicas = self.strategy.num_replicas_in_sync
        self.global_batch = config.batch_size * self.replicas
        plan = trainlib._plan(config, self.parts["train"])
        self.steps = pipeline.steps_per_epoch(self.parts["train"], split="train",
                                              batch_size=self.global_batch, plan=plan,
                                              seed=config.seed)
        self.n_images = int(pipeline.plan_repeats(
            plan, n_rows=len(self.parts["train"]), rows=np.arange(len(self.parts["train"])),
            seed=config.seed).sum())
        augment = None
        if config.augment:
            from modelkit.augment import build_augmenter
            augment = build_augmenter(seed=config.seed)
        self.train_ds = self._distributed("train", training=True, plan=plan, augment=augment)
        self.val_ds = self._distributed("val", training=False) if len(self.parts["val"]) else None

    def _distributed(self, split, *, training, plan=None, augment=None):
        """The split in global batches, split by the strategy into per-replica batches.

        Every replica must get a non-empty batch at every step, so training draws
        ``steps`` full batches per epoch from the repeated, reshuffled stream (the
        last batch of an epoch tops up from the next pass), and validation is padded
        to whole batches with masked rows (labels -1, counted nowhere).
        ``AutoShardPolicy.DATA``: each worker keeps its own part of every global
        batch, so together the workers see each image once per epoch."""
        import tensorflow as tf
        from modelkit import model as modellib
        from modelkit import pipeline

        part = self.parts[split]
        ds = pipeline.make_dataset(
            part, split=split, image_size=self.config.image_size,
            batch_size=self.global_batch, race_classes=self.data.race_classes,
            training=training, plan=plan, augment=augment, seed=self.config.seed,
            cache=self.config.cache).map(lambda x, y: (x, modellib.model_targets(y)))
        ds = ds.unbatch()
        if training:
            ds = ds.repeat()
        else:
            ds = ds.concatenate(_masked_padding(ds.element_spec,
                                                count=-len(part) % self.global_batch))
        ds = ds.batch(self.global_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(ds.with_options(options))

    def _build_model(self):
        import tensorflow as tf
        from modelkit import model as modellib

        config = self.config
        with self.strategy.scope():
            self.model = modellib.build_model(
                backbone=config.backbone, image_size=config.image_size,
                race_classes=self.data.race_classes, weights=config.weights)
            modellib.compile_model(self.model, lr=config.lr * self.replicas,
                                   loss_weights=config.loss_weights, age_sigma=config.age_sigma,
                                   decay_steps=self.steps * config.epochs)
            self.model.optimizer.build(self.model.trainable_variables)
            self.epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.heads = list(self.model.output_names)
        self.losses = modellib.head_losses(age_sigma=config.age_sigma)
        self.weights = {h: 1.0 for h in self.heads} | {
            h: float(w) for h, w in (config.loss_weights or {}).items() if h in self.heads}
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer,
                                              epoch=self.epoch_var)
        chief_dir = self.run_dir / MULTIWORKER_CHECKPOINTS
        self.own_dir = chief_dir if self.task.is_chief else Path(
            tempfile.mkdtemp(prefix=f"facescope-worker{self.task.task_index}-ckpt-"))
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.own_dir),
                                                  max_to_keep=1)
        latest = tf.train.latest_checkpoint(str(chief_dir))
        if latest:  # BackupAndRestore-style: a restarted worker continues
            self.checkpoint.restore(latest).expect_partial()
        return int(self.epoch_var.numpy())

    # -- the step
    def _replica_stats(self, x, y, *, training):
        """This replica's batch loss (the compiled losses and weights, for the
        gradient) and sums that add up across replicas and steps into exact epoch
        metrics: per head the loss times its labelled images, the labelled count,
        hits (gender, race) and absolute age error."""
        import tensorflow as tf
        from modelkit import model as modellib

        outputs = dict(zip(self.heads, self.model(x, training=training)))
        known = {h: tf.reshape(tf.cast(y[h], "int32"), [-1]) >= 0
                 for h in ("gender", "race") if h in self.heads}
        if "age" in self.heads:
            age, _, known["age"] = modellib._age_true(y["age"])
            error = tf.abs(modellib.expected_age(outputs["age"]) - age)
        stats, total = {"images": tf.cast(tf.shape(x)[0], "float32")}, 0.0
        for head in self.heads:
            loss = tf.cast(self.losses[head](y[head], outputs[head]), "float32")
            total += self.weights[head] * loss
            count = tf.reduce_sum(tf.cast(known[head], "float32"))
            stats |= {f"{head}_loss_sum": loss * count, f"{head}_known": count}
            if head == "age":
                stats["age_error"] = tf.reduce_sum(tf.where(known[head], error, 0.0))
            else:
                true = tf.reshape(tf.cast(y[head], "int32"), [-1])
                hit = tf.equal(tf.argmax(outputs[head], -1, output_type="int32"), true)
                stats[f"{head}_hits"] = tf.reduce_sum(tf.cast(hit & known[head], "float32"))
        return stats, total

    def _make_steps(self):
        import tensorflow as tf

        def train_replica(x, y, cancel):
            with tf.GradientTape() as tape:
                stats, total = self._replica_stats(x, y, training=True)
                # SUM all-reduce of the gradients then averages over the replicas.
                scaled = self.model.optimizer.scale_loss(total / self.replicas)
            grads = tape.gradient(scaled, self.model.trainable_variables)
            self.model.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
            return stats | {"cancel": cancel}

        def eval_replica(x, y):
            return self._replica_stats(x, y, training=False)[0]

        def reduced(per_replica):
            sum_ = tf.distribute.ReduceOp.SUM
            return {k: self.strategy.reduce(sum_, v, axis=None) for k, v in per_replica.items()}

        @tf.function
        def train_step(batch, cancel):
            x, y = batch
            return reduced(self.strategy.run(train_replica, args=(x, y, cancel)))

        @tf.function
        def eval_step(batch):
            x, y = batch
            return reduced(self.strategy.run(eval_replica, args=(x, y)))

        self.train_step, self.eval_step = train_step, eval_step

    # -- the loop
    def run(self) -> str:
        self._prepare_data()
        initial_epoch = self._build_model()
        self._make_steps()
        self.train_iter = iter(self.train_ds)
        if self.task.is_chief:
            self._write_config()
            from modelkit.train import truncate_metrics
            truncate_metrics(self.run_dir / "metrics.jsonl", after_epoch=initial_epoch)
            self.status.update(epoch=initial_epoch, steps_per_epoch=self.steps)
            import tensorflow as tf
            self.summary = tf.summary.create_file_writer(str(self.run_dir / "tensorboard"))
        for epoch in range(initial_epoch, self.config.epochs):
            if not self._train_epoch(epoch):
                self._save_checkpoint(epoch)
                return "cancelled"
            self._save_checkpoint(epoch + 1)
        self._save_model()
        if self.task.is_chief:
            self._write_predictions()
        return "finished"

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch of steps, the validation pass and the epoch line; False when a
        CANCEL file in the chief's run folder stopped it (every worker stops: the
        chief's flag is summed across the workers inside the step)."""
        import tensorflow as tf

        if self.status:
            self.status.update(epoch=epoch, batch=0)
        start, totals = time.time(), {}
        cancel_file = self.run_dir / "CANCEL"
        for batch in range(1, self.steps + 1):
            flag = float(self.task.is_chief and cancel_file.exists())
            stats = self.train_step(next(self.train_iter), tf.constant(flag))
            stats = {k: float(v) for k, v in stats.items()}
            if stats.pop("cancel") > 0:
                return False
            _accumulate(totals, stats)
            if self.status:
                self.status.update(batch=batch)
                if batch % max(1, self.config.progress_every) == 0:
                    self._append({"type": "progress", "epoch": epoch + 1, "batch": batch,
                                  "steps": self.steps, "loss": _logs(stats, self.weights)["loss"],
                                  "images_per_s": self._rate(batch, start), "time": time.time()})
        rate = self._rate(self.steps, start)
        logs = _logs(totals, self.weights)
        if self.val_ds is not None:
            val = {}
            for inputs in self.val_ds:
                _accumulate(val, {k: float(v) for k, v in self.eval_step(inputs).items()})
            logs |= {f"val_{k}": v for k, v in _logs(val, self.weights).items()
                     if k != "images"}  # padded
        if self.task.is_chief:
            self._append({"type": "epoch", "epoch": epoch + 1, "time": time.time(),
                          "images_per_s": rate, "workers": self.task.workers,
                          "replicas": self.replicas, "global_batch_size": self.global_batch}
                         | logs)
            if self.verbose:
                print(f"epoch {epoch + 1}/{self.config.epochs} ({self.task.workers} workers): "
                      + " ".join(f"{k}={v:.4g}" for k, v in logs.items() if v is not None),
                      flush=True)
            with self.summary.as_default():
                for key, value in logs.items():
                    tf.summary.scalar(key, value, step=epoch + 1)
            self.status.update(epoch=epoch + 1, batch=0)
        return True

    def _rate(self, batches: int, start: float) -> float:
        return min(batches * self.global_batch, self.n_images) / max(time.time() - start, 1e-9)

    # -- outputs
    def _append(self, line: dict) -> None:
        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(line) + "\n")

    def _write_config(self) -> None:
        from modelkit.train import write_json_atomic

        resolved = self.config.to_dict() | {
            "race_classes": list(self.data.race_classes),
            "age_is_range": bool(self.data.age_is_range),
            **{f"n_{split}": len(part) for split, part in self.parts.items()},
            "distribution": {"strategy": "MultiWorkerMirroredStrategy",
                             "workers": self.task.workers, "replicas": self.replicas,
                             "global_batch_size": self.global_batch,
                             "lr_scaled": self.config.lr * self.replicas}}
        write_json_atomic(self.run_dir / "config.json", resolved)

    def _save_checkpoint(self, completed_epochs: int) -> None:
        """Every worker saves (a collective); only the chief's copy is kept."""
        self.epoch_var.assign(completed_epochs)
        self.manager.save()
        if not self.task.is_chief:
            shutil.rmtree(self.own_dir, ignore_errors=True)

    def _save_model(self) -> None:
        path = self.run_dir / "model.keras"
        if self.task.is_chief:
            self.model.save(path)
        else:
            scratch = Path(tempfile.mkdtemp(prefix="facescope-worker-model-"))
            self.model.save(scratch / "model.keras")
            shutil.rmtree(scratch, ignore_errors=True)

    def _write_predictions(self) -> None:
        """Predictions from the saved model, loaded outside the strategy: a plain
        local ``predict`` on the chief that needs no other worker."""
        import keras
        import pandas as pd
        from modelkit.train import _labelled_heads, predict_frame

        model = keras.saving.load_model(self.run_dir / "model.keras")
        evaluation = pd.concat([self.parts["val"], self.parts["test"]], ignore_index=True)
        predict_frame(model, evaluation, image_size=self.config.image_size,
                      batch_size=self.config.batch_size, race_classes=self.data.race_classes,
                      trained_heads=_labelled_heads(self.parts["train"])
                      ).to_parquet(self.run_dir / "predictions.parquet", index=False)


def _masked_padding(spec, *, count: int):
    """``count`` rows shaped like ``spec`` (image, targets) with every label -1, which
    the masked losses and metrics ignore."""
    import tensorflow as tf

    image_spec, target_spec = spec
    row = (tf.zeros(image_spec.shape, image_spec.dtype),
           tf.nest.map_structure(lambda t: tf.fill(t.shape, tf.cast(-1, t.dtype)), target_spec))
    return tf.data.Dataset.from_tensors(row).repeat(count)


def _accumulate(totals: dict, stats: dict) -> None:
    """Add one step's sums (already summed over the replicas)."""
    for key, value in stats.items():
        totals[key] = totals.get(key, 0.0) + value


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _logs(totals: dict, weights: dict[str, float]) -> dict:
    """Epoch values under Keras's names: per head the loss over its labelled images,
    ``loss`` their weighted sum (as ``model.compile`` weighs them), accuracies, age
    MAE, and ``images`` (seen by all workers together)."""
    logs = {"images": totals.get("images", 0.0)}
    for head in weights:
        logs[f"{head}_loss"] = _ratio(totals[f"{head}_loss_sum"], totals[f"{head}_known"]) or 0.0
    logs["loss"] = sum(weights[h] * logs[f"{h}_loss"] for h in weights)
    for head in ("gender", "race"):
        if head in weights:
            logs[f"{head}_accuracy"] = _ratio(totals[f"{head}_hits"], totals[f"{head}_known"])
    if "age" in weights:
        logs["age_mae"] = _ratio(totals["age_error"], totals["age_known"])
    return logs
