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

from dataclasses import dataclass

import pandas as pd
import tensorflow as tf

from modelkit import labels, pipeline
from modelkit import model as modellib
from modelkit.balance import BalancePlan, split_part, training_plan
from modelkit.config import TrainConfig
from modelkit.data import load_dataset
from modelkit.data.manifest import Dataset


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
    def trained_heads(self) -> set[str]:
        """Heads with at least one label in the train split (the age head always
        learns: years or groups). A head without is untrained noise."""
        train = self.parts["train"]
        return {h for h in ("gender", "race") if train[h].notna().any()} | {"age"}


def load_training_dataset(config: TrainConfig) -> Dataset:
    """The dataset ``config`` names, read as the Dataset page reads it (same seed for
    the subset and the split)."""
    return load_dataset(config.source, root=config.root, labels=config.labels,
                        limit=config.limit, seed=config.seed)


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
    manifest = data.manifest.reset_index(drop=True)
    parts = {split: split_part(manifest, split) for split in labels.SPLITS}
    if parts["train"].empty:
        raise ValueError(f"the {config.source} dataset has no training images "
                         f"({len(manifest)} images in all); check --root / --limit")
    plan = training_plan(manifest, balance=config.balance, target=config.target,
                         max_repeat=config.max_repeat, seed=config.seed)
    batch_size = batch_size or config.batch_size
    augment = None
    if config.augment:
        from modelkit.augment import build_augmenter
        augment = build_augmenter(seed=config.seed)

    def pipeline_of(split: str, *, training: bool) -> tf.data.Dataset:
        ds = pipeline.make_dataset(
            parts[split], split=split, image_size=config.image_size, batch_size=batch_size,
            race_classes=data.race_classes, training=training, plan=plan if training else None,
            augment=augment, seed=config.seed, cache=config.cache)
        return ds.map(lambda x, y: (x, modellib.model_targets(y)))

    return PreparedData(
        dataset=data, parts=parts, plan=plan,
        train=pipeline_of("train", training=True),
        val=pipeline_of("val", training=False) if len(parts["val"]) else None,
        batch_size=batch_size,
        steps_per_epoch=pipeline.steps_per_epoch(parts["train"], split="train",
                                                 batch_size=batch_size, plan=plan),
        images_per_epoch=pipeline.epoch_size(parts["train"], split="train", plan=plan))
