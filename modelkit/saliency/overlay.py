"""Drawing maps: colours for a [0, 1] map, and a map blended over its face.

Kept apart from computing (``modelkit.saliency.explain``), as keras-io's Grad-CAM
example keeps ``make_gradcam_heatmap`` apart from ``save_and_display_gradcam``: a map
can be drawn over the picture shown (a display-size copy of the face), whatever size
the model saw.

Example::

    picture = overlay(face_uint8, maps[0], alpha=0.45)   # (H, W, 3) uint8
"""

from __future__ import annotations

import numpy as np

from modelkit.saliency.explain import resize_maps


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
        heatmap: (h, w) in [0, 1]; stretched to (H, W) when it differs (a map of the
            model's square input lands on the image it was decoded from).
        alpha: weight of the colours, 0 (image only) .. 1 (map only).

    Raises:
        ValueError: alpha outside [0, 1], or an image that is not (H, W, 3).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    picture = np.asarray(image)
    if picture.ndim != 3 or picture.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {picture.shape}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != picture.shape[:2]:
        heat = resize_maps(heat[None], *picture.shape[:2])[0]
    blended = (1.0 - alpha) * picture.astype(np.float32) + alpha * colorize(heat)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
