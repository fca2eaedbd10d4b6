"""tf.data input pipelines from a manifest.

Files are read and decoded in parallel (``tf.io.read_file`` + ``decode_image``),
resized once, optionally cached (as uint8, a quarter of the float size), repeated as
the balance plan says, shuffled, batched, augmented on whole batches and prefetched,
so the CPU decodes the next batches while the model trains on this one.

Example:
    >>> ds = make_dataset(manifest, split="train", image_size=64, batch_size=32,
    ...                   race_classes=dataset.race_classes, training=True, seed=0)
    >>> images, targets = next(iter(ds))  # (32, 64, 64, 3) float32 0..255, dict
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from modelkit import labels

AUTOTUNE = tf.data.AUTOTUNE
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


def _decoder(image_size: int):
    """The one decoder (``modelkit.data.decode``): path -> (S, S, 3) uint8, antialiased,
    the same ops saliency, uploads and the views run on their images."""
    from modelkit.data.decode import read_image_tf

    def decode(path):
        return read_image_tf(path, image_size=image_size)
    return decode


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
    cache: bool | str = False,
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
        augment: a callable (e.g. ``modelkit.augment.build_augmenter``) applied to
            whole batches with ``training=True``; used only when ``training``.
        seed: shuffle seed.
        cache: cache decoded images in memory (True) or in this file prefix (str).

    Returns:
        ``tf.data.Dataset`` of ``(images (B,S,S,3) float32, {gender, race, age,
        age_group})``; codes are -1 and ages -1 where the manifest has null.
    """
    if batch_size < 1 or image_size < 1:
        raise ValueError(f"batch_size and image_size must be >= 1; got {batch_size}, {image_size}")
    rows = split_rows(manifest, split)
    repeats = plan_repeats(plan, n_rows=len(manifest), rows=rows)
    subset = manifest.iloc[rows]
    targets = encode_targets(subset, race_classes=race_classes)
    paths = subset["path"].astype(str).to_numpy()
    decode = _decoder(image_size)
    total = int(repeats.sum())
    # Only a plan needs the per-element repeat column (and the flat_map it drives).
    columns = (paths, targets) if plan is None else (paths, targets, repeats)

    ds = tf.data.Dataset.from_tensor_slices(columns)
    if cache:
        # Decode each image once into the cache, then repeat and shuffle decoded
        # images (a full-size shuffle buffer of uint8 thumbnails).
        ds = ds.map(lambda p, *rest: (decode(p), *rest), num_parallel_calls=AUTOTUNE)
        ds = ds.cache("" if cache is True else str(cache))
        ds = _repeat_as_planned(ds, planned=plan is not None)
        if training:
            ds = ds.shuffle(max(total, 1), seed=seed, reshuffle_each_iteration=True)
    else:
        # Repeat and shuffle the (cheap) paths, then decode in parallel.
        ds = _repeat_as_planned(ds, planned=plan is not None)
        if training:
            ds = ds.shuffle(max(total, 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda p, t: (decode(p), t), num_parallel_calls=AUTOTUNE,
                    deterministic=not training)
    ds = ds.map(lambda image, t: (tf.cast(image, tf.float32), t), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size)
    if plan is not None:
        # flat_map hides the length; state it so Keras shows a progress bar with a total.
        ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(total / batch_size)))
    if training and augment is not None:
        # One batch at a time: the Keras layers draw from a stateful seed generator, and
        # parallel calls would race for it (a seed would no longer fix the run). Each
        # call is vectorised over the batch and prefetch overlaps it with the step.
        ds = ds.map(lambda images, t: (augment(images, training=True), t))
    return ds.prefetch(AUTOTUNE)


def _repeat_as_planned(ds: tf.data.Dataset, *, planned: bool) -> tf.data.Dataset:
    """With a plan, each element ``(x, targets, n)`` becomes ``n`` copies of
    ``(x, targets)``; without one the elements are already ``(x, targets)``."""
    if not planned:
        return ds
    return ds.flat_map(lambda x, t, n: tf.data.Dataset.from_tensors((x, t)).repeat(n))
