"""Python adapters for ``models add --adapter tests.helpers.adapters:NAME``: one that
works and the ways one can go wrong (raises, wrong shape, scores instead of
probabilities)."""

from __future__ import annotations

import numpy as np


def brightness_gender(faces: np.ndarray) -> dict[str, np.ndarray]:
    """A 'model' that calls a face male the brighter it is: probabilities that sum to 1."""
    p = faces.reshape(len(faces), -1).mean(axis=1) / 255.0
    return {"gender": np.stack([p, 1 - p], axis=1)}


def raises(faces: np.ndarray):
    raise RuntimeError("the vendor's service is down")


def wrong_shape(faces: np.ndarray):
    return {"gender": np.full((len(faces), 3), 1 / 3)}


def scores(faces: np.ndarray):
    return {"gender": np.full((len(faces), 2), 2.5)}
