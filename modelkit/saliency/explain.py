"""Saliency maps: where in a face each head of the model looked.

Grad-CAM, Grad-CAM++ and vanilla / SmoothGrad saliency, computed with tf-keras-vis on
the project's three-head Keras 3 model, for any head and class (what each head's
score is: ``modelkit.saliency.scores``). Computation returns arrays in [0, 1] at the
images' resolution; drawing them is ``modelkit.saliency.overlay``.

The images become the model's input as the training pipeline makes it
(``modelkit.models.run_model.model_inputs``, through ``modelkit.data.decode``); the result keeps that
tensor (``Explanation.inputs``), so what was explained can be checked.

References:
    * Grad-CAM: Selvaraju et al., https://arxiv.org/abs/1610.02391
    * Grad-CAM++: Chattopadhyay et al., https://arxiv.org/abs/1710.11063
    * Saliency: Simonyan et al., https://arxiv.org/abs/1312.6034
    * SmoothGrad: Smilkov et al., https://arxiv.org/abs/1706.03825

Example::

    maps = explain(model, faces, head="gender", method="gradcam")   # (N, H, W) in [0, 1]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from modelkit.config import SALIENCY_METHODS
from modelkit.models.run_model import as_batch, check_head, model_inputs
from modelkit.saliency.layers import Prepared, default_layer, linear_heads
from modelkit.saliency.scores import predict_heads, resolve_classes, score_functions

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
        probs: each head's output probabilities on the model's input, head -> (N, k).
        inputs: (N, S, S, 3) float32, the tensor the model was fed and the maps explain.
    """

    maps: np.ndarray
    head: str
    method: str
    layer: str | None
    class_indices: np.ndarray
    constant: np.ndarray
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: np.ndarray | None = None


def explain_detailed(model, images, *, head: str, class_index: int | Sequence[int] | None = None,
                     method: str = "gradcam", layer: str | None = None,
                     batch_size: int = 16, smooth_samples: int = 20,
                     smooth_noise: float = 0.15) -> Explanation:
    """Maps for ``images`` with the classes explained, the predictions, the model's
    input and which maps were constant. See :func:`explain` for the arguments;
    ``smooth_samples`` noisy copies of sd ``smooth_noise`` x the image's range for
    SmoothGrad."""
    check_head(head)
    if method not in SALIENCY_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(SALIENCY_METHODS)}")
    original = as_batch(images)
    if not len(original):
        raise ValueError("no images to explain: got an empty batch")
    if head not in model.output_names:
        raise ValueError(f"the model has no {head!r} output; it has {list(model.output_names)}")
    height, width = original.shape[1:3]
    batch = model_inputs(model, original)
    probs = predict_heads(model, batch, batch_size=max(batch_size, 1))
    classes = resolve_classes(probs, head=head, class_index=class_index, n=len(batch))
    prepared = linear_heads(model)
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
    maps, constant = _normalise(resize_maps(raw.astype(np.float32), height, width))
    if constant.any():
        warnings.warn(f"{int(constant.sum())} of {len(maps)} {method} maps of the {head} head "
                      "had no gradient (constant); returned as zeros", ConstantMapWarning,
                      stacklevel=2)
    indices = np.full(len(batch), -1, np.int32) if classes is None else classes
    return Explanation(maps=maps, head=head, method=method, layer=use_layer,
                       class_indices=indices, constant=constant, probs=probs, inputs=batch)


def explain(model, images, *, head: str, class_index: int | Sequence[int] | None = None,
            method: str = "gradcam", layer: str | None = None,
            batch_size: int = 16) -> np.ndarray:
    """Saliency maps of one head for a batch of faces.

    Args:
        model: the three-head model (input ``image``: raw RGB 0..255).
        images: (N, H, W, 3) or (H, W, 3), RGB 0..255. At the model's input size they
            are its input as they are; otherwise resized as the training pipeline
            resizes. Maps come back at (H, W).
        head: ``gender``, ``race`` or ``age``.
        class_index: the class to explain (an int for all images, or one per image);
            None explains the predicted class, and for ``age`` the expected age
            (with an int, the age group ``labels.AGE_GROUPS[class_index]``).
        method: one of ``modelkit.config.SALIENCY_METHODS``: ``gradcam``,
            ``gradcam++`` (on ``layer``), ``saliency`` (vanilla input gradient) or
            ``smoothgrad`` (saliency averaged over noisy copies).
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


def average_map(model, images, *, head: str, class_index: int | Sequence[int] | None = None,
                method: str = "gradcam", layer: str | None = None,
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


def resize_maps(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, h, w) maps -> (N, height, width), bilinear. Maps are not pixels: they are
    stretched back over the image, not decoded, so the image decoder is not used."""
    import tensorflow as tf

    if maps.shape[1:3] == (height, width):
        return maps
    return tf.image.resize(maps[..., None], (height, width)).numpy()[..., 0]


def _raw_maps(prepared: Prepared, batch: np.ndarray, *, head, classes, method, layer,
              smooth_samples, smooth_noise) -> np.ndarray:
    """Unnormalised maps at the model's input size, via tf-keras-vis."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency

    scores = score_functions(prepared, head=head, class_indices=classes)
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


def _smoothgrad(prepared: Prepared, batch: np.ndarray, *, head, classes, samples: int,
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
    scores = score_functions(prepared, head=head, class_indices=repeated)
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
