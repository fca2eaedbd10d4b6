"""A run's model on a real photo: every face found, aligned, then predicted.

``python -m modelkit predict --run-dir R --image photo.jpg [--json]`` and the Explain
page's upload go the same way: the photo is checked and decoded like an upload
(``modelkit.uploads``: size and pixel limits before decoding, EXIF orientation), its
faces are found and aligned to the training set's framing (``modelkit.data.faces.align``;
detections cached per file by ``modelkit.data.faces.crops``), and each usable crop is fed
to the model exactly as a training image (``decode.model_inputs``). A face too small to
use is listed with the reason and no prediction; a photo without a face raises
``faces.NoFaceError``. The JSON shape is in docs/CONTRACTS.md ("Faces in photos").

Example::

    from modelkit.prediction.photo import predict_photo_file
    result = predict_photo_file("runs/abc", "group.jpg")
    [(f["face"], f["gender_pred"], f["age"]) for f in result["faces"]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelkit import labels
from modelkit.data.faces import align as facelib


def predict_crops(predictor, crops: Sequence[np.ndarray]) -> list[dict]:
    """Per aligned crop: ``gender`` / ``race`` class probabilities with the predicted
    class (``*_pred``), ``age`` (the expected age in years), ``age_group`` (the group
    holding it, as in predictions.parquet) and ``age_group_probs``. A head the model
    does not have or the run never learnt (not in ``predictor.heads``) gives None, not
    noise."""
    if not len(crops):
        return []
    table = predictor.predict_faces(list(crops))
    heads, races = predictor.heads, predictor.race_classes
    out = []
    for _, face in table.iterrows():
        row = {}
        for head, names in (("gender", labels.GENDERS), ("race", races)):
            known = head in heads
            row[head] = {n: float(face[f"prob_{head}_{n}"]) for n in names} if known else None
            row[f"{head}_pred"] = face[f"{head}_pred"]
        aged = "age" in heads
        row["age"] = float(face["age_pred"]) if aged else None
        row["age_group"] = str(face["age_group_pred"]) if aged else None
        row["age_group_probs"] = ({g: float(face[f"prob_age_group_{g}"]) for g in labels.AGE_GROUPS}
                                  if aged else None)
        out.append(row)
    return out


def face_rows(photo: facelib.PhotoFaces, predictions: Sequence[dict]) -> list[dict]:
    """One JSON object per face of ``photo`` (numbered left to right), the usable ones
    with their predictions in order."""
    rows, usable = [], iter(predictions)
    for found in photo.faces:
        x, y, width, height = found.face.box
        row = {"face": found.number,
               "box": {"x": x, "y": y, "width": width, "height": height},
               "confidence": found.face.confidence,
               "landmarks": {k: list(v) for k, v in found.face.landmarks.items()},
               "usable": found.usable, "problem": found.problem}
        if found.usable:
            row.update(next(usable))
        rows.append(row)
    return rows


def predict_photo(run_dir: str | os.PathLike, image: np.ndarray, *, name: str,
                  detections: Sequence[facelib.DetectedFace] | None = None) -> dict:
    """Predict every usable face of a decoded photo with ``run_dir``'s model.

    Returns:
        ``{"image", "width", "height", "run_dir", "detector", "min_face_side",
        "n_faces", "n_usable", "faces": [...]}`` (docs/CONTRACTS.md).

    Raises:
        FileNotFoundError: the run has no model.keras (the message says why).
        ValueError: the model is a predictions file (it predicts no new face).
        faces.NoFaceError: no face in the photo.
    """
    from modelkit.prediction.predictors import check_predicts_faces, load_predictor

    check_predicts_faces(run_dir)
    photo = facelib.find_faces(image, name=name, detections=detections)
    predictions = predict_crops(load_predictor(run_dir), [f.crop for f in photo.usable])
    return {"image": name, "height": photo.shape[0], "width": photo.shape[1],
            "run_dir": str(Path(run_dir).resolve()), "detector": facelib.DETECTOR_NAME,
            "min_face_side": facelib.MIN_FACE_SIDE, "n_faces": len(photo.faces),
            "n_usable": len(photo.usable), "faces": face_rows(photo, predictions)}


def predict_photo_file(run_dir: str | os.PathLike, path: str | os.PathLike, *,
                       cache: bool = True) -> dict:
    """:func:`predict_photo` for a photo file: checked and decoded as an upload (a file
    above ``uploads.MAX_PIXELS`` is refused before it is decoded), its detections taken
    from the per-file cache when the file is unchanged.

    Raises:
        FileNotFoundError: no such photo, or no model.
        modelkit.uploads.UploadError: not an accepted image, too large, damaged.
        faces.NoFaceError: no face in the photo.
    """
    from modelkit import uploads
    from modelkit.data.faces.crops import detect_photo
    from modelkit.prediction.predictors import check_predicts_faces

    check_predicts_faces(run_dir)
    image = uploads.decode_image_file(path)
    detections = detect_photo(image, path=path, cache=cache)
    return predict_photo(run_dir, image, name=str(path), detections=detections)


def summary_lines(result: dict) -> list[str]:
    """The result as a few lines of text (the CLI's output without ``--json``)."""
    lines = [f"{result['image']}: {result['n_faces']} face(s) found, {result['n_usable']} usable"]
    for face in result["faces"]:
        box = face["box"]
        where = (f"face {face['face']} at x={box['x']:.0f} y={box['y']:.0f} "
                 f"{box['width']:.0f}x{box['height']:.0f}")
        if not face["usable"]:
            lines.append(f"  {where}: not used: {face['problem']}")
            continue
        parts = [f"{head} {face[f'{head}_pred']} ({face[head][face[f'{head}_pred']]:.0%})"
                 for head in ("gender", "race") if face[head] is not None]
        if face["age"] is not None:
            parts.append(f"age {face['age']:.1f} (group {face['age_group']})")
        lines.append(f"  {where}: " + ", ".join(parts))
    return lines
