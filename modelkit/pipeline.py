"""tf.data input pipelines from a manifest.

The balance plan's repeats are applied to the row indices up front (``np.repeat``,
no per-element expansion), then one of two ways:

- **cached** (``cache=True``, training's default): every image is decoded once into
  the image store (``modelkit.data.caches.image_cache``: uint8 at the model's size, kept on
  disk between runs, in RAM when it fits), and each epoch shuffles row indices,
  batches them and gathers the batch's pixels from the store. Decoding happens once
  per dataset and size, not once per run; the order is fixed by the seed.
- **uncached**: row positions are shuffled, then their files read and decoded in
  parallel (``modelkit.data.decode.read_image_tf``, a large JPEG at a reduced DCT
  size), in whatever order the workers finish when training (``deterministic=False``).

Only row positions travel through shuffle and map; each batch's labels are gathered
from them at once.

Either way batches are cast to float32, augmented whole (in parallel, each batch
with its own stateless seed) and prefetched, so the CPU prepares the next batches
while the model trains on this one; tf.data's autotuner is off
(``modelkit.data.tuning`` says why). Evaluation keeps the manifest's order.

Example:
    >>> ds = make_dataset(manifest, split="train", image_size=64, batch_size=32,
    ...                   race_classes=dataset.race_classes, training=True, seed=0)
    >>> images, targets = next(iter(ds))  # (32, 64, 64, 3) float32 0..255, dict
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import tensorflow as tf

from modelkit import labels
from modelkit.data.tuning import PARALLEL_CALLS, PREFETCH_BATCHES, untuned

TARGETS = ("gender", "race", "age", "age_group")


def encode_targets(manifest: pd.DataFrame, *, race_classes: list[str]) -> dict[str, np.ndarray]:
    """Integer codes per head from the manifest's categories, -1 where null; ages in
    years as float32, -1 where unknown."""
    race = pd.Categorical(manifest["race"].astype(object), categories=list(race_classes))
    return {
        "gender": _codes(manifest["gender"], labels.GENDERS),
        "race": np.asarray(race.codes, dtype="int32"),
        "age": manifest["age"].astype(float).fillna(-1.0).to_numpy(dtype="float32"),
        "age_group": _codes(manifest["age_group"], labels.AGE_GROUPS),
    }


def _codes(column: pd.Series, vocabulary) -> np.ndarray:
    return np.asarray(pd.Categorical(column.astype(object), categories=list(vocabulary)).codes,
                      dtype="int32")


def split_rows(manifest: pd.DataFrame, split: str | None) -> np.ndarray:
    """Positions of the rows of ``split`` (all rows when None)."""
    if split is None:
        return np.arange(len(manifest))
    if split not in labels.SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(labels.SPLITS)}")
    return np.flatnonzero((manifest["split"].astype(object) == split).to_numpy())


def plan_repeats(plan, *, n_rows: int, rows: np.ndarray) -> np.ndarray:
    """Integer repeat count per selected row: the plan's ``repeats`` (one per row of
    the manifest it was made from, already drawn with its seed), else 1."""
    if plan is None:
        return np.ones(len(rows), dtype="int64")
    repeats = np.asarray(plan.repeats, dtype="int64")
    if len(repeats) != n_rows:
        raise ValueError(f"the balance plan has {len(repeats)} rows but the manifest has "
                         f"{n_rows}; build the plan from the same manifest")
    return repeats[rows]


def epoch_size(manifest: pd.DataFrame, *, split: str | None, plan=None) -> int:
    """Images one pass over ``make_dataset(...)`` yields (with the plan's repeats)."""
    rows = split_rows(manifest, split)
    return int(plan_repeats(plan, n_rows=len(manifest), rows=rows).sum())


def steps_per_epoch(manifest: pd.DataFrame, *, split: str | None, batch_size: int,
                    plan=None) -> int:
    """Batches one pass over ``make_dataset(...)`` yields (with the plan's repeats)."""
    return int(math.ceil(epoch_size(manifest, split=split, plan=plan) / batch_size))


def make_dataset(
    manifest: pd.DataFrame,
    *,
    split: str | None,
    image_size: int,
    batch_size: int,
    race_classes: list[str],
    training: bool,
    plan=None,
    augment=None,
    seed: int = 0,
    cache: bool = False,
    report: Callable[[str], object] | None = None,
) -> tf.data.Dataset:
    """A dataset of ``(images, targets)`` batches for the rows of ``split``.

    Args:
        manifest: the manifest (``modelkit.data.manifest``); ``path`` must be readable
            by ``tf.io.decode_image``.
        split: ``train``/``val``/``test``, or None for every row.
        image_size: side S of the square float32 images (values 0..255).
        batch_size: images per batch (the last batch may be smaller).
        race_classes: the race head's classes, in the head's order.
        training: shuffle each epoch and augment; otherwise keep manifest order.
        plan: a ``modelkit.balance.BalancePlan`` over ``manifest`` (anything with a
            ``repeats`` array, one count per manifest row); each image is repeated
            ``plan.repeats[row]`` times per epoch (0 drops it). None: each once.
        augment: ``f(images, seed) -> images`` applied to whole batches, with a shape
            (2,) seed of their own (``modelkit.augment.augment_batch``); used only
            when ``training``.
        seed: shuffle seed.
        cache: decode every image once into the image store
            (``modelkit.data.caches.image_cache.image_store``: persistent on disk, in RAM up
            to its limit) and read the epochs from it; False decodes every pass.
        report: called with one line saying where the cached images come from and
            live (training prints it into train.log).

    Returns:
        ``tf.data.Dataset`` of ``(images (B,S,S,3) float32, {gender, race, age,
        age_group})``; codes are -1 and ages -1 where the manifest has null.
    """
    from modelkit.data.decode import to_model_input_tf

    if batch_size < 1 or image_size < 1:
        raise ValueError(f"batch_size and image_size must be >= 1; got {batch_size}, {image_size}")
    rows = split_rows(manifest, split)
    repeats = plan_repeats(plan, n_rows=len(manifest), rows=rows)
    subset = manifest.iloc[rows]
    paths = subset["path"].astype(str).to_numpy()
    # Position in ``subset`` of every image one epoch yields, repeats included.
    index = np.repeat(np.arange(len(subset)), repeats)
    targets = {k: tf.constant(v) for k, v in encode_targets(subset, race_classes=race_classes).items()}

    def batch_targets(positions):
        return {k: tf.gather(v, positions) for k, v in targets.items()}

    ds = tf.data.Dataset.from_tensor_slices(index)
    if training:
        ds = ds.shuffle(max(len(index), 1), seed=seed, reshuffle_each_iteration=True)
    if cache:
        from modelkit.data.caches.image_cache import image_store, ram_limit
        store = image_store(paths, image_size=image_size)
        if report is not None:
            report(store.describe(limit=ram_limit()))
        ds = ds.batch(batch_size).map(
            lambda i: (to_model_input_tf(_gather(store.pixels, i, image_size)), batch_targets(i)),
            num_parallel_calls=PARALLEL_CALLS)
    else:
        from modelkit.data.decode import read_image_tf
        files = tf.constant(paths)
        ds = ds.map(lambda i: (i, read_image_tf(tf.gather(files, i), image_size=image_size)),
                    num_parallel_calls=PARALLEL_CALLS, deterministic=not training)
        ds = ds.batch(batch_size).map(lambda i, x: (to_model_input_tf(x), batch_targets(i)))
    if training and augment is not None:
        # Each batch gets its own stateless seed from the run's seed (a new stream every
        # epoch), so batches augment in parallel and the order stays the seed's.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, pair: (augment(batch[0], pair), batch[1]), num_parallel_calls=PARALLEL_CALLS)
    return untuned(ds.prefetch(PREFETCH_BATCHES))


def _gather(pixels: np.ndarray, rows: tf.Tensor, image_size: int) -> tf.Tensor:
    """The store's images at ``rows`` as a (B, S, S, 3) uint8 batch (a numpy gather:
    the store may be a memory map of a file larger than RAM)."""
    images = tf.numpy_function(lambda i: np.asarray(pixels[i]), [rows], tf.uint8, stateful=False)
    images.set_shape((None, image_size, image_size, 3))
    return images
