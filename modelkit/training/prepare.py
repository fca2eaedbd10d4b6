"""The data of a run, prepared once for both trainers: manifest -> split -> plan ->
tf.data datasets.

``prepare_data`` loads the dataset a ``TrainConfig`` names, splits it, plans the
oversampling of the train split with ``modelkit.balance.training_plan`` (the very
function the Dataset page and ``data summary`` show) and builds the pipelines. The
single-process trainer feeds ``train``/``val`` to ``model.fit``; the multi-worker
trainer re-batches them for its strategy.

Example::

    data = prepare_data(TrainConfig(source="synthetic", balance="age_group"))
    data.images_per_epoch, data.steps_per_epoch     # what one epoch holds
    images, targets = next(iter(data.train))        # targets keyed by head
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd
import tensorflow as tf

from modelkit import labels, pipeline
from modelkit import model as modellib
from modelkit.augment import augment_batch
from modelkit.balance import BalancePlan, split_part, training_plan
from modelkit.config import TrainConfig
from modelkit.data import load_dataset
from modelkit.data.manifest import Dataset, counts
from modelkit.provenance import made_by, manifest_sha256


@dataclass(frozen=True)
class PreparedData:
    """A run's data: the dataset, its splits, the train split's plan and pipelines.

    ``train`` yields shuffled, planned (and augmented, if the config says so)
    batches of ``(images, model targets)``; ``val`` the validation split in order,
    or None when it is empty. ``images_per_epoch`` is the planned train split's size.
    """

    dataset: Dataset
    parts: dict[str, pd.DataFrame]
    plan: BalancePlan | None
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    batch_size: int
    steps_per_epoch: int
    images_per_epoch: int
    corrections: object = None  # modelkit.curation.apply.CorrectionReport, if applied

    @property
    def race_classes(self) -> list[str]:
        return self.dataset.race_classes

    @property
    def split_sizes(self) -> dict[str, int]:
        return {split: len(part) for split, part in self.parts.items()}

    @property
    def evaluation(self) -> pd.DataFrame:
        """The rows ``predictions.parquet`` covers: val, then test."""
        return pd.concat([self.parts["val"], self.parts["test"]], ignore_index=True)

    @property
    def run_extras(self) -> dict:
        """What config.json records beyond the settings: where the run came from
        (FaceScope's version and commit, the time, the data's hash), the train split's
        balance before and after the plan, and the applied corrections file's sha256
        and what it changed."""
        extras = {"provenance": made_by() | {"data_sha256": manifest_sha256(self.dataset.manifest)},
                  "train_balance": self.train_balance()}
        if self.corrections is None:
            return extras
        applied = self.corrections.to_dict()
        applied["n_missing"], applied["missing"] = len(applied["missing"]), applied["missing"][:100]
        return extras | {"corrections_sha256": applied["sha256"], "corrections_applied": applied}

    def train_balance(self) -> dict:
        """Images per value of gender, race and age group in the train split, before
        and after the plan (one epoch): what a report shows of the training data."""
        train = self.parts["train"]
        return {when: {a: {str(k): int(v) for k, v in
                           (counts(train, a) if when == "before" or self.plan is None
                            else self.plan.counts_after(a)).items()}
                       for a in labels.ATTRIBUTES}
                for when in ("before", "after")}

    @property
    def trained_heads(self) -> set[str]:
        """Heads with at least one label in the train split (the age head always
        learns: years or groups). A head without is untrained noise."""
        train = self.parts["train"]
        return {h for h in ("gender", "race") if train[h].notna().any()} | {"age"}


def load_training_dataset(config: TrainConfig) -> Dataset:
    """The dataset ``config`` names, read as the Dataset page reads it (same seed for
    the subset and the split). A first read's image check says how far it is in
    train.log, a tenth at a time."""
    return load_dataset(config.source, root=config.root, labels=config.labels,
                        limit=config.limit, seed=config.seed, progress=_tenths_line())


def _tenths_line():
    """A progress callback that prints a line each time another tenth is done."""
    printed = -1

    def report(done: int, total: int) -> None:
        nonlocal printed
        tenth = done * 10 // max(total, 1)
        if tenth > printed:
            printed = tenth
            print(f"checking images (first read only): {done:,} of {total:,}", flush=True)
    return report


def prepare_data(config: TrainConfig, *, dataset: Dataset | None = None,
                 batch_size: int | None = None) -> PreparedData:
    """Load, split, plan and build the pipelines of ``config``.

    Args:
        config: the run's settings (source, balance plan, image size, augment...).
        dataset: a ``Dataset`` to use instead of loading ``config.source`` (tests,
            notebooks).
        batch_size: images per batch; default ``config.batch_size`` (the multi-worker
            trainer passes its global batch).

    Raises:
        ValueError: the train split is empty (names the source and the fix).
    """
    data = dataset if dataset is not None else load_training_dataset(config)
    report = None
    if config.corrections:
        data, report = _corrected(data, config.corrections)
    if config.align:
        data = _aligned(data)
    manifest = data.manifest.reset_index(drop=True)
    parts = {split: split_part(manifest, split) for split in labels.SPLITS}
    if parts["train"].empty:
        raise ValueError(f"the {config.source} dataset has no training images "
                         f"({len(manifest)} images in all); check --root / --limit")
    plan = training_plan(manifest, balance=config.balance, target=config.target,
                         max_repeat=config.max_repeat, seed=config.seed)
    batch_size = batch_size or config.batch_size
    augment = augment_batch if config.augment else None

    def pipeline_of(split: str, *, training: bool) -> tf.data.Dataset:
        ds = pipeline.make_dataset(
            parts[split], split=split, image_size=config.image_size, batch_size=batch_size,
            race_classes=data.race_classes, training=training, plan=plan if training else None,
            augment=augment, seed=config.seed, cache=config.cache,
            report=lambda line: print(line, flush=True))  # where the images live: train.log
        return ds.map(lambda x, y: (x, modellib.model_targets(y)))

    return PreparedData(
        dataset=data, parts=parts, plan=plan,
        train=pipeline_of("train", training=True),
        val=pipeline_of("val", training=False) if len(parts["val"]) else None,
        batch_size=batch_size,
        steps_per_epoch=pipeline.steps_per_epoch(parts["train"], split="train",
                                                 batch_size=batch_size, plan=plan),
        images_per_epoch=pipeline.epoch_size(parts["train"], split="train", plan=plan),
        corrections=report)


def _corrected(data: Dataset, file: str):
    """The label decisions of ``file`` applied (modelkit.curation); names of images it
    lists that the dataset lacks are printed and ignored."""
    from modelkit.curation.apply import apply_corrections

    data, report = apply_corrections(data, file=file)
    print(f"corrections {file}: {report.summary()}", file=sys.stderr)
    for path in report.missing[:20]:
        print(f"  not in the dataset (ignored): {path}", file=sys.stderr)
    return data, report


def _aligned(data: Dataset) -> Dataset:
    """Each image replaced by its main face's aligned crop (``modelkit.data.faces.crops``,
    cached on disk); the images without a usable face are skipped, and counted here."""
    from modelkit.data.faces.crops import align_dataset

    def progress(done: int, total: int) -> None:
        if done == total or done % 1024 < 32:
            print(f"align: faces detected in {done}/{total} images", file=sys.stderr, flush=True)

    before = len(data.skipped)
    aligned = align_dataset(data, progress=progress)
    print(f"align: {len(aligned.manifest)} of {len(data.manifest)} images aligned, "
          f"{len(aligned.skipped) - before} skipped without a usable face", file=sys.stderr)
    for skipped in aligned.skipped[before:before + 10]:
        print(f"  skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    return aligned
