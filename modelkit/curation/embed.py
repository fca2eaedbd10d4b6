"""Embed every image once with a run's trained backbone.

The embedding of a face is the shared feature vector the three heads read: the
backbone's global average pool (``modelkit.model``'s layer ``pool``; the dropout after
it is the identity at inference). One pass over the images also returns the run's
own head probabilities, the naive baseline a ranking is compared with.

Images go through ``modelkit.pipeline.make_dataset`` (the one decoder of
``modelkit.data.decode``, at the run's image size), so they are the tensors the model
was trained and evaluated on.

Example::

    model = load_run_model(run_dir)
    out = embed_images(model, manifest, race_classes=config["race_classes"])
    out.features.shape      # (N, 256) for small_cnn
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from modelkit import labels, pipeline

POOL_LAYER = "pool"  # modelkit.model._features: backbone -> GlobalAveragePooling2D("pool")


@dataclass(frozen=True)
class Embeddings:
    """Per image (manifest order): ``features`` (N, D) float32, and the run's own
    softmaxes ``probs`` (head -> (N, classes))."""

    features: np.ndarray
    probs: dict[str, np.ndarray]


def feature_model(model: keras.Model) -> keras.Model:
    """A model with the same input whose outputs are ``[pool features, *heads]``.

    Raises:
        ValueError: the model has no ``pool`` layer (not a FaceScope shared model).
    """
    try:
        pool = model.get_layer(POOL_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named {POOL_LAYER!r}: embeddings "
                         "need a FaceScope shared-backbone model (modelkit.model.build_model)") from None
    return keras.Model(model.inputs, [pool.output, *model.outputs], name=f"{model.name}_features")


def image_size(model: keras.Model) -> int:
    return int(model.inputs[0].shape[1])


def embed_images(model: keras.Model, manifest: pd.DataFrame, *, race_classes: list[str],
                 batch_size: int = 64) -> Embeddings:
    """Embed the images of ``manifest`` (all rows, in order) with ``model``.

    Args:
        model: a trained shared model (``model.keras`` of a run).
        manifest: rows with readable ``path``s.
        race_classes: the run's race classes (the pipeline encodes targets with them;
            the targets are not used here).
        batch_size: images per forward pass.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    features_of = feature_model(model)
    width = int(features_of.outputs[0].shape[-1])
    if manifest.empty:
        return Embeddings(np.zeros((0, width), "float32"),
                          {h: np.zeros((0, int(o.shape[-1])))
                           for h, o in zip(model.output_names, model.outputs, strict=True)})
    ds = pipeline.make_dataset(manifest, split=None, image_size=image_size(model),
                               batch_size=batch_size, race_classes=race_classes,
                               training=False).map(lambda x, y: x)
    outputs = features_of.predict(ds, verbose=0)
    heads = dict(zip(model.output_names, outputs[1:], strict=True))
    return Embeddings(np.asarray(outputs[0], dtype="float32"),
                      {h: np.asarray(heads[h], dtype="float64") for h in labels.HEADS if h in heads})
