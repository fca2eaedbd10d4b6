"""Training glue: a manifest in, a run folder out (docs/CONTRACTS.md, "A run folder").

``train(config, run_dir=...)`` loads the data, builds the pipelines and the model and
runs ``model.fit`` with small callbacks, one job each:

- :class:`MetricsLogger` appends epoch and progress lines to ``metrics.jsonl``;
- :class:`EpochCheckpoint` keeps ``checkpoints/last.keras`` (model + optimizer) and
  ``checkpoints/state.json`` (completed epochs), so ``resume`` continues there;
- :class:`StatusCallback` reports epoch/batch to the heartbeat and stops at the next
  batch boundary when a ``CANCEL`` file appears;
- ``keras.callbacks.TensorBoard`` writes ``tensorboard/``.

``status.json`` is rewritten at least once a second by a heartbeat thread, so a
watcher can tell a live run from a dead one even during a long step or evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from modelkit import labels
from modelkit import model as modellib
from modelkit import pipeline

CHECKPOINT = Path("checkpoints") / "last.keras"
CHECKPOINT_STATE = Path("checkpoints") / "state.json"
HEARTBEAT_S = 0.5


@dataclass
class TrainConfig:
    """The train arguments (``python -m modelkit train`` flags). Defaults are a sensible
    CPU run: ~15 minutes on 8,000 UTKFace images on 2 cores (docs/BENCHMARKS.md)."""

    source: str = "synthetic"
    root: str | None = None
    labels: str | None = None
    backbone: str = "small_cnn"
    image_size: int = 64
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    balance: str = "none"
    target: str | int = "max"
    max_repeat: int = 3
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"gender": 1.0, "race": 1.0, "age": 1.0})
    weights: str = "none"
    limit: int | None = None
    seed: int = 0
    augment: bool = True
    cache: bool = True
    age_sigma: float = 2.0
    progress_every: int = 10

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """From a config.json (extra keys such as ``race_classes`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def load_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The run's resolved ``config.json`` as a TrainConfig."""
    return TrainConfig.from_dict(json.loads((Path(run_dir) / "config.json").read_text()))


class TrainingCancelled(Exception):
    """Raised inside ``fit`` at the batch boundary after a CANCEL file appeared."""


# ------------------------------------------------------------------------ status file
def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON so a reader never sees half a file (write a temp file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


class StatusWriter:
    """Keeps ``status.json`` current: fields set by the callbacks, heartbeat rewritten
    every ``HEARTBEAT_S`` seconds by a daemon thread until :meth:`close`."""

    def __init__(self, run_dir: Path, *, epochs: int):
        self.path = run_dir / "status.json"
        self.fields = {"state": "running", "pid": os.getpid(), "heartbeat": time.time(),
                       "epoch": 0, "epochs": epochs, "batch": 0, "steps_per_epoch": 0,
                       "error": None, "traceback": None}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.write()
        self._thread = threading.Thread(target=self._beat, name="status-heartbeat", daemon=True)
        self._thread.start()

    def update(self, **fields) -> None:
        with self._lock:
            self.fields.update(fields)

    def write(self) -> None:
        with self._lock:
            self.fields["heartbeat"] = time.time()
            write_json_atomic(self.path, self.fields)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.write()
            except OSError:  # run folder deleted under us: nothing left to report to
                return

    def close(self, **final) -> None:
        """Stop the heartbeat and write the final state."""
        self._stop.set()
        self._thread.join()
        self.update(**final)
        self.write()


# -------------------------------------------------------------------------- callbacks
def _jsonable(value):
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


class MetricsLogger(keras.callbacks.Callback):
    """Appends ``metrics.jsonl`` lines: progress every ``every`` batches, one per epoch
    (Keras's logs under their own names, plus images/s of the training part)."""

    def __init__(self, path: Path, *, steps: int, batch_size: int, n_images: int, every: int):
        super().__init__()
        self.path, self.steps, self.batch_size = path, steps, batch_size
        self.n_images, self.every = n_images, max(1, every)

    def _append(self, line: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start, self.train_end = epoch + 1, time.time(), time.time()

    def _images_per_s(self, batches: int) -> float:
        seen = min(batches * self.batch_size, self.n_images)
        return seen / max(self.train_end - self.start, 1e-9)

    def on_train_batch_end(self, batch, logs=None):
        self.train_end = time.time()
        if (batch + 1) % self.every == 0:
            self._append({"type": "progress", "epoch": self.epoch, "batch": batch + 1,
                          "steps": self.steps, "loss": _jsonable((logs or {}).get("loss", np.nan)),
                          "images_per_s": self._images_per_s(batch + 1), "time": time.time()})

    def on_epoch_end(self, epoch, logs=None):
        line = {"type": "epoch", "epoch": epoch + 1, "time": time.time(),
                "images_per_s": self._images_per_s(self.steps)}
        line |= {k: _jsonable(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        self._append(line)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves ``checkpoints/last.keras`` (weights + optimizer state) after each epoch,
    atomically, and records the completed epoch count beside it."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.model, self.run_dir, epoch=epoch + 1, kind="epoch")


class StatusCallback(keras.callbacks.Callback):
    """Tells the heartbeat where training is, and honours a ``CANCEL`` file at the next
    batch boundary by raising :class:`TrainingCancelled`."""

    def __init__(self, status: StatusWriter, run_dir: Path):
        super().__init__()
        self.status, self.cancel_file = status, run_dir / "CANCEL"

    def on_epoch_begin(self, epoch, logs=None):
        self.status.update(epoch=epoch, batch=0)

    def on_train_batch_end(self, batch, logs=None):
        self.status.update(batch=batch + 1)
        if self.cancel_file.exists():
            raise TrainingCancelled(f"cancelled by {self.cancel_file}")

    def on_epoch_end(self, epoch, logs=None):
        self.status.update(epoch=epoch + 1, batch=0)


def save_checkpoint(model: keras.Model, run_dir: Path, *, epoch: int, kind: str) -> None:
    """``kind`` is ``epoch`` (after a completed epoch) or ``cancelled`` (mid-epoch: the
    weights so far; resume restarts epoch ``epoch + 1`` from its first batch)."""
    path = run_dir / CHECKPOINT
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name("last.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    write_json_atomic(run_dir / CHECKPOINT_STATE, {"epoch": epoch, "kind": kind, "time": time.time()})


def completed_epochs(run_dir: Path) -> int:
    """Epochs the checkpoint holds (0 when there is none)."""
    state = run_dir / CHECKPOINT_STATE
    return int(json.loads(state.read_text())["epoch"]) if state.exists() and (
        run_dir / CHECKPOINT).exists() else 0


def truncate_metrics(path: Path, *, after_epoch: int) -> None:
    """Drop metrics lines of epochs after ``after_epoch`` (work a resume redoes), so
    each epoch appears once."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", 0) <= after_epoch]
    path.write_text("".join(line + "\n" for line in keep))


# ------------------------------------------------------------------------- strategy
def choose_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster
    (``modelkit.distributed``), MirroredStrategy over several local GPUs, mixed float16
    on any GPU, the default strategy on a CPU.

    ``train`` sends a ``TF_CONFIG`` run to ``modelkit.distributed.train_multi_worker``
    (its own step under ``strategy.run``): Keras 3 ``model.fit`` fails under
    MultiWorkerMirroredStrategy on TF 2.21 (keras-team/keras#20585).
    """
    from modelkit import distributed

    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "float32")
    if distributed.cluster_task() is not None:
        return distributed.make_strategy()
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# ---------------------------------------------------------------------------- train
def train(
    config: TrainConfig,
    *,
    run_dir: str | os.PathLike,
    resume: bool = False,
    dataset=None,
    callbacks: list | tuple = (),
    verbose: int | str = "auto",
) -> Path:
    """Train the shared model and write the run folder; return its path.

    Args:
        config: what to train. With ``resume`` the run's own config.json wins
            (only ``epochs`` may be raised to train further).
        run_dir: the run folder (created).
        resume: continue from ``checkpoints/`` at the first epoch not completed.
        dataset: a ``modelkit.data.manifest.Dataset`` to use instead of loading
            ``config.source`` (tests, notebooks).
        callbacks: extra Keras callbacks.
        verbose: Keras progress output (``auto``: a bar on a terminal, a line per
            epoch in a log file).

    Raises:
        Whatever failed; ``status.json`` then says ``failed`` with the error and its
        traceback. A cancelled run returns normally with state ``cancelled``.
    """
    from modelkit import distributed

    if distributed.cluster_task() is not None:  # TF_CONFIG: one worker of a cluster
        if callbacks:
            raise ValueError("Keras callbacks need model.fit, which multi-worker training "
                             "(TF_CONFIG) does not use; pass none")
        return distributed.train_multi_worker(config, run_dir=run_dir, resume=resume,
                                              dataset=dataset, verbose=verbose)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "config.json").exists():
        config = dataclasses.replace(load_config(run_dir), epochs=config.epochs)
    config = _absolute_paths(config)
    status = StatusWriter(run_dir, epochs=config.epochs)
    try:
        state = _train(config, run_dir=run_dir, resume=resume, dataset=dataset,
                       status=status, callbacks=list(callbacks), verbose=verbose)
    except BaseException as exc:
        status.close(state="failed", error=f"{type(exc).__name__}: {exc}",
                     traceback=traceback.format_exc())
        raise
    status.close(state=state)
    return run_dir


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """Dataset and weight paths made absolute, so config.json reproduces the run from
    any working directory (the launcher, a later resume)."""
    def absolute(value):
        return str(Path(value).expanduser().resolve()) if value else value
    weights = config.weights if config.weights in ("none", "imagenet") else absolute(config.weights)
    return dataclasses.replace(config, root=absolute(config.root), labels=absolute(config.labels),
                               weights=weights)


def _load(config: TrainConfig, dataset):
    if dataset is not None:
        return dataset
    from modelkit.data import load_dataset
    return load_dataset(config.source, root=config.root, labels=config.labels,
                        limit=config.limit, seed=config.seed)


def _plan(config: TrainConfig, manifest: pd.DataFrame):
    if config.balance == "none":
        return None
    from modelkit.balance import plan_balance
    target = int(config.target) if str(config.target).isdigit() else config.target
    return plan_balance(manifest, attribute=config.balance, target=target,
                        max_repeat=config.max_repeat, seed=config.seed)


def _write_config(config: TrainConfig, run_dir: Path, data, parts: dict) -> None:
    resolved = config.to_dict() | {
        "race_classes": list(data.race_classes), "age_is_range": bool(data.age_is_range),
        **{f"n_{split}": len(part) for split, part in parts.items()}}
    write_json_atomic(run_dir / "config.json", resolved)


def _train(config, *, run_dir, resume, dataset, status, callbacks, verbose) -> str:
    keras.utils.set_random_seed(config.seed)
    strategy = choose_strategy()
    data = _load(config, dataset)
    manifest = data.manifest.reset_index(drop=True)
    parts = {s: manifest[manifest["split"].astype(object) == s].reset_index(drop=True)
             for s in labels.SPLITS}
    if parts["train"].empty:
        raise ValueError(f"the {config.source} dataset has no training images "
                         f"({len(manifest)} images in all); check --root / --limit")
    _write_config(config, run_dir, data, parts)
    race_classes = data.race_classes
    plan = _plan(config, parts["train"])
    augment = None
    if config.augment:
        from modelkit.augment import build_augmenter
        augment = build_augmenter(seed=config.seed)

    def datasets(split, training):
        ds = pipeline.make_dataset(
            parts[split], split=split, image_size=config.image_size,
            batch_size=config.batch_size, race_classes=race_classes, training=training,
            plan=plan if training else None, augment=augment, seed=config.seed,
            cache=config.cache)
        return ds.map(lambda x, y: (x, modellib.model_targets(y)))

    train_ds = datasets("train", True)
    val_ds = datasets("val", False) if len(parts["val"]) else None
    steps = pipeline.steps_per_epoch(parts["train"], split="train",
                                     batch_size=config.batch_size, plan=plan, seed=config.seed)
    n_images = int(pipeline.plan_repeats(plan, n_rows=len(parts["train"]),
                                         rows=np.arange(len(parts["train"])),
                                         seed=config.seed).sum())
    initial_epoch = completed_epochs(run_dir) if resume else 0
    truncate_metrics(run_dir / "metrics.jsonl", after_epoch=initial_epoch)
    status.update(epoch=initial_epoch, steps_per_epoch=steps)

    with strategy.scope():
        if initial_epoch or (resume and (run_dir / CHECKPOINT).exists()):
            model = keras.saving.load_model(run_dir / CHECKPOINT)
        else:
            model = modellib.build_model(backbone=config.backbone, image_size=config.image_size,
                                         race_classes=race_classes, weights=config.weights)
            modellib.compile_model(model, lr=config.lr, loss_weights=config.loss_weights,
                                   age_sigma=config.age_sigma,
                                   decay_steps=steps * config.epochs)
    fit_callbacks = [
        MetricsLogger(run_dir / "metrics.jsonl", steps=steps, batch_size=config.batch_size,
                      n_images=n_images, every=config.progress_every),
        EpochCheckpoint(run_dir),
        StatusCallback(status, run_dir),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
        *callbacks,
    ]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    try:
        if initial_epoch < config.epochs:
            # The tf.data pipeline already shuffles; shuffle=False only silences Keras's
            # warning that it would ignore its own shuffle on a dataset.
            model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, shuffle=False,
                      initial_epoch=initial_epoch, callbacks=fit_callbacks, verbose=verbose)
    except TrainingCancelled:
        save_checkpoint(model, run_dir, epoch=status.fields["epoch"], kind="cancelled")
        return "cancelled"
    model.save(run_dir / "model.keras")
    evaluation = pd.concat([parts["val"], parts["test"]], ignore_index=True)
    predictions = predict_frame(model, evaluation, image_size=config.image_size,
                                batch_size=config.batch_size, race_classes=race_classes,
                                trained_heads=_labelled_heads(parts["train"]))
    predictions.to_parquet(run_dir / "predictions.parquet", index=False)
    return "finished"


def _labelled_heads(manifest: pd.DataFrame) -> set[str]:
    """Heads that had at least one label to learn from."""
    return {h for h in ("gender", "race") if manifest[h].notna().any()} | {"age"}


# ---------------------------------------------------------------------- predictions
def predict_frame(
    model: keras.Model,
    manifest: pd.DataFrame,
    *,
    image_size: int,
    batch_size: int,
    race_classes: list[str],
    trained_heads: set[str] = frozenset(labels.HEADS),
) -> pd.DataFrame:
    """One row per image of ``manifest`` with true and predicted labels and class
    probabilities (the ``predictions.parquet`` columns of docs/CONTRACTS.md).

    A head that never saw a label (``trained_heads``) gets null predictions: its
    output is untrained noise, not a guess worth showing."""
    ds = pipeline.make_dataset(manifest, split=None, image_size=image_size,
                               batch_size=batch_size, race_classes=race_classes,
                               training=False).map(lambda x, y: x)
    gender_p, race_p, age_p = (np.asarray(p, dtype="float64") for p in
                               model.predict(ds, verbose=0)) if len(manifest) else (
        np.zeros((0, 2)), np.zeros((0, len(race_classes))), np.zeros((0, modellib.MAX_AGE + 1)))
    group_p = age_p @ modellib.age_group_matrix()
    age_pred = age_p @ modellib.AGES
    age_true = manifest["age"].astype(float).to_numpy()
    midpoints = manifest["age_group"].astype(object).map(labels.AGE_GROUP_MIDPOINTS).astype(float)
    is_midpoint = np.isnan(age_true) & midpoints.notna().to_numpy()
    frame = pd.DataFrame({
        "path": manifest["path"].astype(str).to_numpy(),
        "split": manifest["split"].astype(object).to_numpy(),
        "gender_true": _as_strings(manifest["gender"]),
        "gender_pred": _argmax_labels(gender_p, labels.GENDERS, "gender" in trained_heads),
        "race_true": _as_strings(manifest["race"]),
        "race_pred": _argmax_labels(race_p, race_classes, "race" in trained_heads),
        "age_group_true": _as_strings(manifest["age_group"]),
        "age_group_pred": np.asarray(labels.age_to_group(age_pred).astype(object)),
        "age_true": np.where(is_midpoint, midpoints.to_numpy(), age_true),
        "age_pred": age_pred,
        "age_true_is_midpoint": is_midpoint,
    })
    for name, probs, classes in (("gender", gender_p, labels.GENDERS),
                                 ("race", race_p, race_classes),
                                 ("age_group", group_p, labels.AGE_GROUPS)):
        for j, cls in enumerate(classes):
            frame[f"prob_{name}_{cls}"] = probs[:, j]
    return frame


def _as_strings(column: pd.Series) -> np.ndarray:
    values = column.astype(object).to_numpy()
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _argmax_labels(probs: np.ndarray, classes, trained: bool) -> np.ndarray:
    if not trained:
        return np.full(len(probs), None, dtype=object)
    return np.asarray(list(classes), dtype=object)[probs.argmax(axis=1)] if len(probs) else \
        np.zeros(0, dtype=object)
