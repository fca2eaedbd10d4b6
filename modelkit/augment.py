"""The augmentations that make a repeated image a new sample.

Keras preprocessing layers, so the same code runs in a tf.data map (on the CPU,
overlapping the model's step) and is seeded for reproducible runs. Faces are kept
upright and recognisable: horizontal flip only (a face's left-right mirror is still
the same person's age/gender/race), small rotation/zoom/shift, mild light changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; factors as in the Keras layers."""

    flip: bool = True
    rotation: float = 0.04  # fraction of a full turn: about ±15°
    zoom: float = 0.10
    shift: float = 0.06
    brightness: float = 0.15
    contrast: float = 0.20


def build_augmenter(*, seed: int, config: AugmentConfig = AugmentConfig()) -> keras.Sequential:
    """A ``keras.Sequential`` taking float images in 0..255, shape (B, H, W, 3), and
    returning randomly altered images in the same range. Call with ``training=True``.

    Each layer gets its own seed derived from ``seed`` so two runs with the same
    seed see the same sequence of augmentations, as long as the batches are fed one
    at a time (the layers advance a stateful seed generator per call; the pipeline
    maps the augmenter without parallel calls for this reason). Labels are not its
    business: it sees images only.
    """
    layers = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if config.rotation:
        layers.append(keras.layers.RandomRotation(config.rotation, fill_mode="reflect", seed=seed + 1))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, fill_mode="reflect", seed=seed + 2))
    if config.shift:
        layers.append(keras.layers.RandomTranslation(config.shift, config.shift,
                                                     fill_mode="reflect", seed=seed + 3))
    if config.brightness:
        layers.append(keras.layers.RandomBrightness(config.brightness, value_range=(0, 255), seed=seed + 4))
    if config.contrast:
        layers.append(keras.layers.RandomContrast(config.contrast, value_range=(0, 255), seed=seed + 5))
    return keras.Sequential(layers, name="augment")


def augmented_examples(image: np.ndarray, *, n: int, seed: int) -> np.ndarray:
    """``n`` augmented variants of one uint8 HxWx3 image, as uint8: what the
    Dataset page shows next to the original."""
    augmenter = build_augmenter(seed=seed)
    batch = np.repeat(np.asarray(image, dtype="float32")[None], n, axis=0)
    out = keras.ops.convert_to_numpy(augmenter(batch, training=True))
    return np.clip(out, 0, 255).astype("uint8")
