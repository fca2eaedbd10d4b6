"""Saliency maps: where in a face each head of the model looked.

Grad-CAM, Grad-CAM++ and vanilla / SmoothGrad saliency, computed with tf-keras-vis on
the project's three-head Keras 3 model, for any head and class. Computation returns
arrays in [0, 1] at the image's resolution; drawing them (``overlay``) is separate, and
nothing here imports Streamlit, so the CLI, the dashboard and notebooks share it.

What is explained, per head:
    * gender, race: the log-odds of the class (predicted, or chosen) against the other
      classes, taken from the head's logits. A confident softmax has almost no gradient
      (p(1-p) underflows to 0 at p=1 in float32), the log-odds keeps one.
    * age: the expected age in years (the model's predicted age); or, with a class (an
      age group), the log-odds of the probability mass inside that group.

References:
    * Grad-CAM: Selvaraju et al., https://arxiv.org/abs/1610.02391
    * Grad-CAM++: Chattopadhyay et al., https://arxiv.org/abs/1710.11063
    * Saliency: Simonyan et al., https://arxiv.org/abs/1312.6034
    * SmoothGrad: Smilkov et al., https://arxiv.org/abs/1706.03825

Example::

    model = load_run_model("runs/abc")
    maps = explain(model, faces, head="gender", method="gradcam")   # (N, H, W) in [0, 1]
    picture = overlay(faces[0].astype("uint8"), maps[0], alpha=0.45)
"""

from __future__ import annotations

import json
import os
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from modelkit import labels

Head = Literal["gender", "race", "age"]
Method = Literal["gradcam", "gradcam++", "saliency", "smoothgrad"]
METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "saliency", "smoothgrad")
AGE_YEARS = np.arange(101, dtype=np.float32)
# A map whose range is below this (relative to its magnitude) carries no information.
_CONSTANT_RTOL = 1e-6


class ConstantMapWarning(UserWarning):
    """Some maps had no gradient at all (every pixel the same); they were returned as zeros."""


@dataclass
class Explanation:
    """Maps for a batch, with what they explain.

    Attributes:
        maps: (N, H, W) float32 in [0, 1], at the images' resolution.
        head, method, layer: what was explained and how (``layer`` None for saliency).
        class_indices: (N,) the class explained per image; -1 for "expected age".
        constant: (N,) True where the map had no signal (returned as zeros).
        probs: each head's output probabilities on the (resized) images, head -> (N, k).
    """

    maps: np.ndarray
    head: str
    method: str
    layer: str | None
    class_indices: np.ndarray
    constant: np.ndarray
    probs: dict[str, np.ndarray] = field(default_factory=dict)


# ---------------------------------------------------------------- runs and classes

def load_run_model(run_dir: str | os.PathLike):
    """Load ``run_dir/model.keras`` (the final model of a training run), without compiling.

    Raises:
        FileNotFoundError: the folder has no model.keras (not a run, or unfinished).
    """
    import keras

    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"no model at {path}: expected a finished run folder holding model.keras "
            "(train one with `python -m modelkit train`, or wait for the run to finish)")
    return keras.saving.load_model(path, custom_objects=_custom_objects(), compile=False)


def _custom_objects() -> dict | None:
    """The model module's custom objects, when it declares any (importing it also
    registers its serializable classes)."""
    try:
        from modelkit import model as model_module
    except ImportError:
        return None
    objects = getattr(model_module, "CUSTOM_OBJECTS", None) or getattr(
        model_module, "custom_objects", None)
    return objects() if callable(objects) else objects


def load_run_config(run_dir: str | os.PathLike) -> dict:
    """The run's ``config.json`` (class names, image size...); ``{}`` when it has none."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def class_names(config: dict, head: Head) -> list[str]:
    """The classes a head can be explained for: genders, the run's races, age groups."""
    _check_head(head)
    if head == "gender":
        return list(labels.GENDERS)
    if head == "age":
        return list(labels.AGE_GROUPS)
    races = config.get("race_classes")
    return list(races) if races else list(labels.UTKFACE_RACES)


def class_index_for(config: dict, head: Head, name: str | None) -> int | None:
    """The index of class ``name`` in ``head``'s classes (None stays None).

    Raises:
        ValueError: an unknown name, listing the classes that exist.
    """
    if name is None:
        return None
    names = class_names(config, head)
    if name not in names:
        raise ValueError(f"unknown class {name!r} for the {head} head; "
                         f"classes: {', '.join(names)}")
    return names.index(name)


def image_size(model) -> int | None:
    """The square input size the model expects, or None when it accepts any."""
    return model.inputs[0].shape[1]


# ---------------------------------------------------------------- images

def load_images(paths: Sequence[str | os.PathLike], *, size: int) -> np.ndarray:
    """Decode image files as the training pipeline does (``tf.io.decode_image``, RGB,
    bilinear resize) into raw 0..255 float32, shape (N, size, size, 3)."""
    import tensorflow as tf

    out = np.empty((len(paths), size, size, 3), dtype=np.float32)
    for i, path in enumerate(paths):
        raw = tf.io.read_file(str(path))
        image = tf.io.decode_image(raw, channels=3, expand_animations=False)
        out[i] = tf.image.resize(tf.cast(image, tf.float32), (size, size)).numpy()
    return out


def _as_batch(images) -> np.ndarray:
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected images shaped (N, H, W, 3) or (H, W, 3) with RGB values "
                         f"0..255, got shape {np.asarray(images).shape}")
    return batch


def _resize(batch: np.ndarray, height: int, width: int) -> np.ndarray:
    import tensorflow as tf

    if batch.shape[1:3] == (height, width):
        return batch
    squeeze = batch.ndim == 3
    tensor = batch[..., None] if squeeze else batch
    resized = tf.image.resize(tensor, (height, width)).numpy()
    return resized[..., 0] if squeeze else resized


# ---------------------------------------------------------------- the model, prepared

@dataclass
class _Prepared:
    """The model as explained: head layers with softmax turned linear (so scores use
    logits) in a weight-sharing-free clone, and which heads give logits."""

    model: object
    logits: dict[str, bool]


_PREPARED: "weakref.WeakKeyDictionary[object, _Prepared]" = weakref.WeakKeyDictionary()


def _prepare(model) -> _Prepared:
    """Clone the model once with its softmax heads made linear (tf-keras-vis's own
    advice for softmax outputs). Cached per model object. A model that cannot be cloned
    is explained from its probabilities instead (log-odds of clipped probabilities)."""
    cached = _PREPARED.get(model)
    if cached is not None:
        return cached
    import keras

    heads = list(model.output_names)
    softmax = {name: getattr(model.get_layer(name), "activation", None) is keras.activations.softmax
               for name in heads}
    prepared = _Prepared(model=model, logits={name: False for name in heads})
    if any(softmax.values()):
        try:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            for name, is_softmax in softmax.items():
                if is_softmax:
                    clone.get_layer(name).activation = keras.activations.linear
            prepared = _Prepared(model=clone, logits=softmax)
        except Exception as exc:  # noqa: BLE001 - any clone failure has the same fallback
            warnings.warn(f"could not clone the model to read its logits ({exc}); "
                          "explaining softmax probabilities instead", stacklevel=3)
    _PREPARED[model] = prepared
    return prepared


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
    chosen = (wide or candidates)
    if not chosen:
        raise ValueError(f"model {model.name!r} has no convolutional feature map for "
                         "Grad-CAM; use method='saliency' instead")
    return chosen[-1].name


def _is_feature_map(layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4 and shape[1] is not None and shape[2] is not None


def default_layer(model) -> str:
    """``modelkit.model.last_conv_layer_name`` when it exists and names a usable
    top-level feature map; otherwise :func:`find_last_conv_layer`."""
    import keras

    try:
        from modelkit.model import last_conv_layer_name
        name = last_conv_layer_name(model)
        layer = model.get_layer(name)
        if _is_feature_map(layer) and min(layer.output.shape[1:3]) >= 2 \
                and not isinstance(layer, keras.layers.ZeroPadding2D):
            return name
    except (ImportError, ValueError, AttributeError):
        pass
    return find_last_conv_layer(model)


# ---------------------------------------------------------------- scores

def predict_heads(model, images, *, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each head's probabilities for raw 0..255 images (resized to the model's size).

    Calls the model directly per chunk: ``model.predict`` costs several times more on
    the one to sixteen faces the dashboard explains at a time."""
    batch = _fit_to_model(model, _as_batch(images))
    chunks = [_listify(model(batch[start:start + batch_size], training=False))
              for start in range(0, len(batch), batch_size)]
    return {name: np.concatenate([np.asarray(chunk[i]) for chunk in chunks])
            for i, name in enumerate(model.output_names)}


def expected_age(age_probs: np.ndarray) -> np.ndarray:
    """The predicted age in years: the expectation over the 0..100 softmax."""
    probs = np.asarray(age_probs, dtype=np.float32)
    return probs @ AGE_YEARS[: probs.shape[-1]]


def age_group_probs(age_probs: np.ndarray) -> np.ndarray:
    """Probability mass of each age group (columns in ``labels.AGE_GROUPS`` order)."""
    probs = np.asarray(age_probs, dtype=np.float32)
    return probs @ _age_group_matrix(probs.shape[-1])


def _age_group_matrix(n_years: int) -> np.ndarray:
    codes = np.asarray(labels.age_to_group(np.arange(n_years)).codes)
    return np.eye(len(labels.AGE_GROUPS), dtype=np.float32)[codes]


def _listify(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _score_functions(prepared: _Prepared, *, head: str, class_indices: np.ndarray | None):
    """One score function per model output (tf-keras-vis wants exactly that): the head
    explained gives its score per image, the other heads zeros."""
    import tensorflow as tf

    names = list(prepared.model.output_names)
    is_logits = prepared.logits[head]

    def probabilities(output):
        return tf.nn.softmax(output, axis=-1) if is_logits else output

    def log_odds(output, member):
        """log P(member) - log P(not member), stably from logits when there are some."""
        if is_logits:
            inside = tf.where(member, output, -np.inf)
            outside = tf.where(member, -np.inf, output)
            return tf.reduce_logsumexp(inside, -1) - tf.reduce_logsumexp(outside, -1)
        p_in = tf.reduce_sum(tf.where(member, output, 0.0), -1)
        return tf.math.log(p_in + 1e-7) - tf.math.log(1.0 - p_in + 1e-7)

    def score(output):
        if head == "age" and class_indices is None:
            return tf.reduce_sum(probabilities(output) * AGE_YEARS[: output.shape[-1]], -1)
        if head == "age":
            groups = tf.constant(_age_group_matrix(output.shape[-1]))  # (years, groups)
            member = tf.gather(tf.transpose(groups), class_indices) > 0.5  # (N, years)
            return log_odds(output, member)
        member = tf.one_hot(class_indices, output.shape[-1]) > 0.5
        return log_odds(output, member)

    def inactive(output):
        return tf.zeros_like(output[:, 0])

    return [score if name == head else inactive for name in names]


def _resolve_classes(probs: dict[str, np.ndarray], *, head: str, class_index, n: int):
    """Per-image class indices: the predicted class (None), or the one(s) asked for.
    For the age head, None means "expected age" and stays None."""
    if class_index is None:
        if head == "age":
            return None
        return np.argmax(probs[head], axis=-1).astype(np.int32)
    indices = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (n,)).copy()
    n_classes = len(labels.AGE_GROUPS) if head == "age" else probs[head].shape[-1]
    if indices.min() < 0 or indices.max() >= n_classes:
        raise ValueError(f"class_index {class_index!r} out of range for the {head} head, "
                         f"which has {n_classes} classes (0..{n_classes - 1})")
    return indices


# ---------------------------------------------------------------- maps

def explain_detailed(model, images, *, head: Head, class_index: int | Sequence[int] | None = None,
                     method: Method = "gradcam", layer: str | None = None,
                     batch_size: int = 16, smooth_samples: int = 20,
                     smooth_noise: float = 0.15) -> Explanation:
    """Maps for ``images`` with the classes explained, the predictions and which maps
    were constant. See :func:`explain` for the arguments."""
    _check_head(head)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    original = _as_batch(images)
    if not len(original):
        raise ValueError("no images to explain: got an empty batch")
    height, width = original.shape[1:3]
    batch = _fit_to_model(model, original)
    if head not in model.output_names:
        raise ValueError(f"the model has no {head!r} output; it has {list(model.output_names)}")
    probs = predict_heads(model, batch, batch_size=max(batch_size, 1))
    classes = _resolve_classes(probs, head=head, class_index=class_index, n=len(batch))
    prepared = _prepare(model)
    use_layer = None if method in ("saliency", "smoothgrad") else (layer or default_layer(model))
    # SmoothGrad sends `smooth_samples` copies of each image through at once.
    step = max(1, batch_size // max(1, smooth_samples)) if method == "smoothgrad" else batch_size
    raw = np.concatenate([
        _raw_maps(prepared, batch[start:start + step], head=head,
                  classes=None if classes is None else classes[start:start + step],
                  method=method, layer=use_layer, smooth_samples=smooth_samples,
                  smooth_noise=smooth_noise)
        for start in range(0, len(batch), step)
    ])
    maps, constant = _normalise(_resize(raw.astype(np.float32), height, width))
    if constant.any():
        warnings.warn(f"{int(constant.sum())} of {len(maps)} {method} maps of the {head} head "
                      "had no gradient (constant); returned as zeros", ConstantMapWarning,
                      stacklevel=2)
    indices = np.full(len(batch), -1, np.int32) if classes is None else classes
    return Explanation(maps=maps, head=head, method=method, layer=use_layer,
                       class_indices=indices, constant=constant, probs=probs)


def explain(model, images, *, head: Head, class_index: int | Sequence[int] | None = None,
            method: Method = "gradcam", layer: str | None = None,
            batch_size: int = 16) -> np.ndarray:
    """Saliency maps of one head for a batch of faces.

    Args:
        model: the three-head model (input ``image``: raw RGB 0..255).
        images: (N, H, W, 3) or (H, W, 3), RGB 0..255; resized to the model's input
            size for the computation, maps come back at (H, W).
        head: ``gender``, ``race`` or ``age``.
        class_index: the class to explain (an int for all images, or one per image);
            None explains the predicted class, and for ``age`` the expected age
            (with an int, the age group ``labels.AGE_GROUPS[class_index]``).
        method: ``gradcam``, ``gradcam++`` (on ``layer``), ``saliency`` (vanilla input
            gradient) or ``smoothgrad`` (saliency averaged over noisy copies).
        layer: Grad-CAM's feature-map layer; None finds the last convolutional one.
        batch_size: images per gradient pass (SmoothGrad: noisy copies per pass, at
            least one image's worth).

    Returns:
        (N, H, W) float32 in [0, 1]; a map without any gradient is all zeros
        (and a :class:`ConstantMapWarning` says so).

    Raises:
        ValueError: an unknown head, method or class, or images of the wrong shape.
    """
    return explain_detailed(model, images, head=head, class_index=class_index, method=method,
                            layer=layer, batch_size=batch_size).maps


def average_map(model, images, *, head: Head, class_index: int | Sequence[int] | None = None,
                method: Method = "gradcam", layer: str | None = None,
                batch_size: int = 16) -> np.ndarray:
    """The mean map over a group of faces, (H, W) in [0, 1].

    Not re-normalised, so the means of two groups (women vs men, one race vs another)
    share a scale and can be compared side by side.
    """
    maps = explain(model, images, head=head, class_index=class_index, method=method,
                   layer=layer, batch_size=batch_size)
    if not len(maps):
        raise ValueError("average_map needs at least one image")
    return maps.mean(axis=0)


def _fit_to_model(model, batch: np.ndarray) -> np.ndarray:
    size = image_size(model)
    return batch if size is None else _resize(batch, size, size)


def _raw_maps(prepared: _Prepared, batch: np.ndarray, *, head, classes, method, layer,
              smooth_samples, smooth_noise) -> np.ndarray:
    """Unnormalised maps at the model's input size, via tf-keras-vis."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency

    scores = _score_functions(prepared, head=head, class_indices=classes)
    with warnings.catch_warnings():
        # tf-keras-vis passes the single input as a list; Keras 3 warns about the structure.
        warnings.filterwarnings("ignore", message=r"(?s).*structure of `inputs`")
        warnings.filterwarnings("ignore", message=r"(?s).*Expected: image")
        if method in ("gradcam", "gradcam++"):
            visualiser = (Gradcam if method == "gradcam" else GradcamPlusPlus)(
                prepared.model, clone=False)
            maps = visualiser(scores, batch, penultimate_layer=layer,
                              seek_penultimate_conv_layer=False, normalize_cam=False)
        elif method == "saliency":
            maps = Saliency(prepared.model, clone=False)(scores, batch, normalize_map=False)
        else:
            maps = _smoothgrad(prepared, batch, head=head, classes=classes,
                               samples=smooth_samples, noise=smooth_noise)
    maps = np.asarray(maps, dtype=np.float32)
    return maps.reshape(len(batch), *maps.shape[-2:])


def _smoothgrad(prepared: _Prepared, batch: np.ndarray, *, head, classes, samples: int,
                noise: float) -> np.ndarray:
    """SmoothGrad: tf-keras-vis's Saliency on ``samples`` noisy copies of each image
    (noise sd = ``noise`` x the image's value range), |gradient| averaged over the
    copies, then the channel maximum, as tf-keras-vis does. The copies go through the
    model as one batch rather than tf-keras-vis's one pass per sample: the same maps,
    several times faster on a CPU."""
    from tf_keras_vis.saliency import Saliency

    samples = max(1, int(samples))
    rng = np.random.default_rng(0)  # seeded: the same face gives the same map
    spread = batch.max(axis=(1, 2, 3), keepdims=True) - batch.min(axis=(1, 2, 3), keepdims=True)
    noisy = np.repeat(batch, samples, axis=0)
    noisy += rng.normal(size=noisy.shape).astype(np.float32) * np.repeat(noise * spread, samples, 0)
    repeated = None if classes is None else np.repeat(classes, samples)
    scores = _score_functions(prepared, head=head, class_indices=repeated)
    grads = Saliency(prepared.model, clone=False)(scores, noisy, keepdims=True,
                                                  normalize_map=False)
    grads = np.asarray(grads, dtype=np.float32).reshape(len(batch), samples, *batch.shape[1:])
    return grads.mean(axis=1).max(axis=-1)


def _normalise(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each map to [0, 1]; a map with no range (or non-finite values) becomes zeros
    and is flagged, instead of dividing by zero."""
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    span = high - low
    scale = np.maximum(np.abs(high), np.abs(low))
    constant = ~np.isfinite(span) | (span <= _CONSTANT_RTOL * scale) | (span == 0)
    safe = np.where(constant, 1.0, span)
    out = np.where(constant, 0.0, (maps - low) / safe).astype(np.float32)
    return np.clip(out, 0.0, 1.0), constant.reshape(-1)


# ---------------------------------------------------------------- drawing

def colorize(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] map as a jet-coloured uint8 RGB image (blue low, red high), with the
    piecewise-linear jet formula rather than a plotting library."""
    x = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], dtype=np.float32)  # red, green, blue
    rgb = np.clip(1.5 - np.abs(4.0 * (x - centres)), 0.0, 1.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend a map's colours over an RGB image: ``(1 - alpha) * image + alpha * colours``.

    Args:
        image: (H, W, 3) uint8 RGB (a float 0..255 array is accepted).
        heatmap: (h, w) in [0, 1]; resized to (H, W) when it differs.
        alpha: weight of the colours, 0 (image only) .. 1 (map only).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    picture = np.asarray(image)
    if picture.ndim != 3 or picture.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {picture.shape}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != picture.shape[:2]:
        heat = _resize(heat[None], *picture.shape[:2])[0]
    blended = (1.0 - alpha) * picture.astype(np.float32) + alpha * colorize(heat)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _check_head(head: str) -> None:
    if head not in labels.HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(labels.HEADS)}")
