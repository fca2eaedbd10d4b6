"""Occlusion sensitivity: where a face matters to a model that gives no gradients.

Grad-CAM needs a differentiable Keras model; an ONNX graph, a TFLite file or a
Python adapter gives only its outputs. Occlusion (Zeiler & Fergus 2014,
https://arxiv.org/abs/1311.2901) needs nothing more: a grey square slides over the
face, and where covering it lowers the explained score most is where the model
looked. The map is the score's drop averaged over the squares covering each pixel,
negative drops (covering helped) clipped to 0, scaled to [0, 1] like the Grad-CAM maps
(``modelkit.saliency.explain``), so the same overlay draws both.

Example::

    maps, explained = explain_any(load_predictor("runs/models/dlib-gender"), face, head="gender")
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelkit import labels

Score = Callable[[np.ndarray], np.ndarray]  # uint8 (B, H, W, 3) -> (B,) scores
PATCH_FRACTION = 1 / 6   # the square's side, as a share of the face's
STRIDE_FRACTION = 1 / 2  # the step, as a share of the square's side
FILL = 128               # mid grey: no colour of its own
MAX_BATCH = 256


def occlusion_maps(score: Score, faces: np.ndarray, *, patch: int | None = None,
                   stride: int | None = None) -> np.ndarray:
    """(N, H, W) maps in [0, 1] for uint8 RGB ``faces`` (N, H, W, 3).

    Raises:
        ValueError: faces that are not an (N, H, W, 3) batch, or a patch larger than them.
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB faces shaped (N, H, W, 3), got {faces.shape}")
    height, width = faces.shape[1:3]
    patch = patch or max(2, round(min(height, width) * PATCH_FRACTION))
    stride = stride or max(1, round(patch * STRIDE_FRACTION))
    if patch > min(height, width):
        raise ValueError(f"an occluding square of {patch} px does not fit {height}x{width} faces")
    corners = [(y, x) for y in _starts(height, patch, stride) for x in _starts(width, patch, stride)]
    return np.stack([_one(score, face, corners, patch) for face in faces])


def _starts(side: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, side - patch + 1, stride))
    return starts if starts[-1] == side - patch else starts + [side - patch]  # cover the edge


def _one(score: Score, face: np.ndarray, corners: list[tuple[int, int]], patch: int) -> np.ndarray:
    base = float(score(face[None])[0])
    drops = np.empty(len(corners))
    for start in range(0, len(corners), MAX_BATCH):
        chunk = corners[start:start + MAX_BATCH]
        covered = np.repeat(face[None], len(chunk), axis=0)
        for i, (y, x) in enumerate(chunk):
            covered[i, y:y + patch, x:x + patch] = FILL
        drops[start:start + len(chunk)] = base - np.asarray(score(covered), dtype=np.float64)
    total, count = np.zeros(face.shape[:2]), np.zeros(face.shape[:2])
    for (y, x), drop in zip(corners, drops, strict=True):
        total[y:y + patch, x:x + patch] += drop
        count[y:y + patch, x:x + patch] += 1
    heat = np.clip(total / count, 0, None)
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def explain_any(predictor, face: np.ndarray, *, head: str, class_name: str | None = None
                ) -> tuple[np.ndarray, str]:
    """The occlusion map (H, W) of one uint8 RGB face at the model's input size, for
    any model (``modelkit.prediction.predictors.Predictor``), and what it explains in
    words. ``class_name`` None: the predicted class (for age: the predicted age).

    Raises:
        ValueError: a head the model does not have, or an unknown class.
    """
    if head not in predictor.heads:
        raise ValueError(f"the model has no {head} head (its heads: {', '.join(sorted(predictor.heads))})")
    row = predictor.predict_faces([face]).iloc[0]
    if head != "age" and class_name is None:
        class_name = str(row[f"{head}_pred"])
    names = {"gender": labels.GENDERS, "race": predictor.race_classes, "age": labels.AGE_GROUPS}[head]
    if class_name is not None and class_name not in names:
        raise ValueError(f"unknown class {class_name!r} for the {head} head; classes: {', '.join(names)}")
    score = outside_score(predictor.predict_faces, head=head, class_name=class_name)
    explained = (f"the predicted age ({row['age_pred']:.1f} years)" if class_name is None
                 else repr(class_name))
    return occlusion_maps(score, face[None])[0], explained


def outside_score(predict_faces: Callable[[list[np.ndarray]], object], *, head: str,
                  class_name: str | None) -> Score:
    """The score explained for a head of any model, from its ``predict_faces``
    (``modelkit.prediction.predictors.Predictor``): a class's probability, the
    predicted age in years for ``age`` with no class (how far the face reads as old),
    or an age group's probability.

    Raises:
        ValueError: a class head without a class.
    """
    if head == "age" and class_name is None:
        column = "age_pred"
    elif class_name is None:
        raise ValueError(f"name the {head} class to explain (e.g. its predicted class)")
    else:
        column = f"prob_{'age_group' if head == 'age' else head}_{class_name}"

    def score(faces: np.ndarray) -> np.ndarray:
        return predict_faces(list(faces))[column].to_numpy(np.float64)
    return score
