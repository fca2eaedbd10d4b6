"""Where a backbone's starting weights come from (``TrainConfig.weights``).

- ``none``: from scratch, except ``dlib_resnet``, which is dlib's trained network
  (:mod:`modelkit.pretrained.dlib_resnet`) whatever ``weights`` says;
- ``imagenet``: keras.applications downloads its ImageNet weights (needs a network);
- an ``.h5`` / ``.weights.h5`` file for a keras.applications backbone: that
  application's weights, as Keras would download them (``..._no_top.h5``), loaded by
  Keras' own application code from the local path: ImageNet weights offline;
- a ``.keras`` file (an earlier run's ``model.keras``), or a whole-model
  ``.weights.h5`` for another backbone: every layer whose name and shape match is
  copied in (:func:`load_matching_weights`), so a run with other race classes still
  seeds the backbone.
"""

from __future__ import annotations

from pathlib import Path

import keras

from modelkit.config import IMAGENET_BACKBONES, IMAGENET_WEIGHTS_SUFFIX


def application_weights(backbone: str, weights: str) -> str | None:
    """What a keras.applications constructor gets as ``weights`` for this setting."""
    if weights == "imagenet":
        return "imagenet"
    if backbone in IMAGENET_BACKBONES and weights.endswith(IMAGENET_WEIGHTS_SUFFIX):
        return weights
    return None


def load_matching_weights(model: keras.Model, path: str | Path) -> int:
    """Copy weights from a saved model/weights file into ``model``, layer by layer where
    names and shapes match.

    Returns the number of layers copied. Raises ValueError when none matched."""
    path = Path(path)
    if path.name.endswith(".weights.h5"):
        model.load_weights(path, skip_mismatch=True)
        return len(model.layers)
    source = keras.saving.load_model(path, compile=False)
    mine = {layer.name: layer for layer in model.layers}
    copied = 0
    for layer in source.layers:
        target = mine.get(layer.name)
        ours, theirs = (target.get_weights() if target else []), layer.get_weights()
        if theirs and len(ours) == len(theirs) and all(
                a.shape == b.shape for a, b in zip(ours, theirs, strict=False)):
            target.set_weights(theirs)
            copied += 1
    if not copied:
        raise ValueError(f"no layer of {path} matches this model by name and shape; "
                         "was it trained with the same backbone?")
    return copied
