"""The augmentations that make a repeated image a new sample.

Faces are kept upright and recognisable: horizontal flip only (a face's left-right
mirror is still the same person's age/gender/race), small rotation/zoom/shift, mild
light changes. The flip, rotation, zoom and shift are folded into **one** affine
resampling per image (``keras.ops.image.affine_transform``), where three chained
Keras layers resampled the batch three times. The randomness is **stateless**: every
batch's draws come from the seed it is handed, so the pipeline can augment several
batches in parallel (``num_parallel_calls``) and a run's seed still fixes every image
it sees. Stateful Keras layers forced one batch at a time. Alone, this augmenter runs
about 4x faster than those layers (bench/bench_augment.py, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; factors as in the Keras layers of the same name."""

    flip: bool = True
    rotation: float = 0.04  # fraction of a full turn: about ±15°
    zoom: float = 0.10      # the sampled area's side scales by 1 ± zoom
    shift: float = 0.06     # fraction of the side, each axis
    brightness: float = 0.15  # fraction of 255 added or taken
    contrast: float = 0.20  # distance from each channel's mean scales by 1 ± contrast


def augment_batch(images, seed, *, config: AugmentConfig = AugmentConfig()):
    """Randomly altered copies of ``images`` (B, H, W, 3) float32 in 0..255, same range.

    ``seed``: a shape (2,) integer tensor; the same images and seed give the same
    result, whatever else runs at the same time (``tf.random.stateless_*``).
    Labels are not its business: it sees images only.
    """
    images = tf.convert_to_tensor(images, dtype="float32")
    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(tf.cast(seed, "int64"), num=7)

    def uniform(key, low, high):
        return tf.random.stateless_uniform([batch], seed=keys[key], minval=low, maxval=high)

    if config.rotation or config.zoom or config.shift or config.flip:
        height = tf.cast(tf.shape(images)[1], "float32")
        width = tf.cast(tf.shape(images)[2], "float32")
        mirror = (tf.where(uniform(0, 0.0, 1.0) < 0.5, -1.0, 1.0) if config.flip
                  else tf.ones([batch]))
        angle = uniform(1, -1.0, 1.0) * (config.rotation * 2 * math.pi)
        scale = 1.0 + uniform(2, -1.0, 1.0) * config.zoom
        shift_x = uniform(3, -1.0, 1.0) * (config.shift * width)
        shift_y = uniform(4, -1.0, 1.0) * (config.shift * height)
        images = keras.ops.image.affine_transform(
            images, _inverse_maps(mirror, angle, scale, shift_x, shift_y, width, height),
            interpolation="bilinear", fill_mode="reflect")
    if config.brightness:
        images = images + (uniform(5, -1.0, 1.0) * (config.brightness * 255.0))[:, None, None, None]
    if config.contrast:
        factor = (1.0 + uniform(6, -1.0, 1.0) * config.contrast)[:, None, None, None]
        mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
        images = (images - mean) * factor + mean
    return tf.clip_by_value(images, 0.0, 255.0)


def _inverse_maps(mirror, angle, scale, shift_x, shift_y, width, height):
    """Per image, the 8 numbers of the map from an output pixel to the input point it
    samples: mirror about the centre, rotate, scale, then shift (B, 8)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
    a2 = cx - (a0 * cx + a1 * cy) + shift_x
    b2 = cy - (b0 * cx + b1 * cy) + shift_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augmented_examples(image: np.ndarray, *, n: int, seed: int) -> np.ndarray:
    """``n`` augmented variants of one uint8 HxWx3 image, as uint8: what the
    Dataset page shows next to the original."""
    batch = np.repeat(np.asarray(image, dtype="float32")[None], n, axis=0)
    out = augment_batch(batch, tf.constant([seed, 0], dtype="int64")).numpy()
    return np.clip(out, 0, 255).astype("uint8")
