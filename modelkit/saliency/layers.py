"""The layers saliency reads and the ones it changes.

* Grad-CAM reads a convolutional feature map: :func:`default_layer` picks the model's
  own Grad-CAM layer (``modelkit.model.last_conv_layer_name``) when it is usable, and
  :func:`find_last_conv_layer` otherwise.
* The heads end in a softmax, whose gradient vanishes on a confident face (p(1-p)
  underflows to 0 at p=1 in float32). :func:`linear_heads` clones the model once with
  the softmax heads made linear, so scores read logits: tf-keras-vis's own advice
  (its ``ReplaceToLinear`` model modifier), done on a clone so the run's model is
  left as it is.

Example::

    layer = default_layer(model)            # "backbone_last_conv" for small_cnn
    prepared = linear_heads(model)          # prepared.model gives logits
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass


def find_last_conv_layer(model) -> str:
    """The layer Grad-CAM reads: the last top-level layer giving a 4-D feature map with
    at least 2x2 cells (a 1x1 map, e.g. InceptionResNetV2 on small inputs, would make
    every Grad-CAM a constant). Padding layers are skipped: their border cells are not
    image positions, so a map read there would be shifted.

    Raises:
        ValueError: the model has no such layer (nothing convolutional to explain).
    """
    import keras

    candidates = [layer for layer in model.layers
                  if not isinstance(layer, (keras.layers.InputLayer, keras.layers.ZeroPadding2D))
                  and _is_feature_map(layer)]
    wide = [layer for layer in candidates if min(layer.output.shape[1:3]) >= 2]
    chosen = wide or candidates
    if not chosen:
        raise ValueError(f"model {model.name!r} has no convolutional feature map for "
                         "Grad-CAM; use method='saliency' instead")
    return chosen[-1].name


def default_layer(model) -> str:
    """``modelkit.model.last_conv_layer_name`` when it names a usable top-level feature
    map (at least 2x2, not padding); otherwise :func:`find_last_conv_layer`."""
    import keras

    from modelkit.model import last_conv_layer_name

    try:
        name = last_conv_layer_name(model)
        layer = model.get_layer(name)
    except ValueError:  # no 4-D layer at all, or one inside a nested model
        return find_last_conv_layer(model)
    if _is_feature_map(layer) and min(layer.output.shape[1:3]) >= 2 \
            and not isinstance(layer, keras.layers.ZeroPadding2D):
        return name
    return find_last_conv_layer(model)


def _is_feature_map(layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4 and shape[1] is not None and shape[2] is not None


# ---------------------------------------------------------------- linear heads

@dataclass
class Prepared:
    """The model as explained: a clone whose softmax heads are linear (so scores use
    logits), and per head whether it gives logits (False: probabilities)."""

    model: object
    logits: dict[str, bool]


_PREPARED: weakref.WeakKeyDictionary[object, Prepared] = weakref.WeakKeyDictionary()


def linear_heads(model) -> Prepared:
    """Clone the model once with its softmax heads made linear. Cached per model
    object. A model that cannot be cloned is explained from its probabilities instead
    (log-odds of clipped probabilities), with a warning saying so."""
    cached = _PREPARED.get(model)
    if cached is not None:
        return cached
    import keras

    heads = list(model.output_names)
    softmax = {name: getattr(model.get_layer(name), "activation", None) is keras.activations.softmax
               for name in heads}
    prepared = Prepared(model=model, logits={name: False for name in heads})
    if any(softmax.values()):
        try:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            for name, is_softmax in softmax.items():
                if is_softmax:
                    clone.get_layer(name).activation = keras.activations.linear
            prepared = Prepared(model=clone, logits=softmax)
        except Exception as exc:  # noqa: BLE001 - any clone failure has the same fallback
            warnings.warn(f"could not clone the model to read its logits ({exc}); "
                          "explaining softmax probabilities instead", stacklevel=3)
    _PREPARED[model] = prepared
    return prepared
