"""A report's examples: a few of the worst errors of each head's weakest group, with
what the model looked at.

The weakest group of a head is the one furthest below the overall figure on the head's
summary metric (``SUMMARY_METRIC``), among single-attribute groups large enough for the
gaps (``gap_min_n``), so one odd face cannot choose it. Its worst errors are
``worst_errors``' (most confident wrong class; largest age error). Each face is drawn
twice, as a small JPEG: as the model saw it, and with its saliency map over it:
Grad-CAM for a FaceScope run, occlusion for an outside model that predicts faces
(no gradients), none for a predictions file. Only paths and numbers go to the JSON;
the pictures go to the page alone.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelkit.evaluate.metrics import SUMMARY_METRIC
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES
from modelkit.runfolder import MODEL_FILE

PER_GROUP = 3        # worst errors shown per weakest group
PICTURE_SIDE = 128   # pixels of the longer side of each picture in the page
JPEG_QUALITY = 85


@dataclass
class Example:
    """One wrong face: where it is, its group, what was true and predicted, and the two
    pictures (JPEG bytes; None where the file could not be read)."""

    evaluation: str
    head: str
    grouping: str
    group: str
    path: str
    true: object
    pred: object
    confidence: float | None
    error: float
    saliency: str | None = None
    face_jpeg: bytes | None = field(default=None, repr=False)
    overlay_jpeg: bytes | None = field(default=None, repr=False)
    problem: str | None = None

    def to_json_dict(self) -> dict:
        true = self.true if isinstance(self.true, str) else _number(self.true)
        pred = self.pred if isinstance(self.pred, str) else _number(self.pred)
        return {"evaluation": self.evaluation, "head": self.head, "grouping": self.grouping,
                "group": self.group, "path": self.path, "true": true, "pred": pred,
                "confidence": _number(self.confidence), "error": _number(self.error),
                "saliency": self.saliency, "problem": self.problem}


def _number(value) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def weakest_group(evaluation, head: str):
    """The single-attribute group furthest below overall on ``head``'s summary metric
    (a row of ``Evaluation.worst_groups``), or None when no group has enough faces."""
    metric = f"{head}_{SUMMARY_METRIC[head]}"
    if metric not in set(evaluation.by_group["metric"]):
        return None
    rows = evaluation.worst_groups(metric, min_n=evaluation.settings.get("gap_min_n", 1))
    rows = rows[rows["grouping"].isin(GROUP_ATTRIBUTES) & (rows["shortfall"] > 0)]
    return None if rows.empty else rows.iloc[0]


def worst_examples(evaluation, *, name: str, k: int = PER_GROUP) -> list[Example]:
    """Up to ``k`` worst errors of each head's weakest group in one evaluation."""
    from modelkit.evaluate import worst_errors

    out = []
    for head in (h for h in evaluation.heads if h in SUMMARY_METRIC):
        group = weakest_group(evaluation, head)
        if group is None:
            continue
        where = {group["grouping"]: group["group"]}
        for row in worst_errors(evaluation.predictions, head, where, k=k).itertuples():
            out.append(Example(evaluation=name, head=head, grouping=group["grouping"],
                               group=group["group"], path=str(row.path), true=row.true,
                               pred=row.pred, confidence=row.confidence, error=row.error))
    return out


def draw_examples(examples: list[Example], run_dir: str | os.PathLike) -> None:
    """Fill in each example's pictures with the run's saliency method, in place; a face
    whose file cannot be read keeps its numbers and says why it has no picture."""
    if not examples:
        return
    explainer = _explainer(Path(run_dir))
    for example in examples:
        try:
            face, heat = explainer(example)
        except (OSError, ValueError) as exc:  # missing, unreadable, decode.ImageDecodeError
            example.problem = f"no picture: {exc}"
            continue
        example.face_jpeg = jpeg(face)
        if heat is not None:
            from modelkit.saliency import overlay

            example.overlay_jpeg = jpeg(overlay(face, heat))
            example.saliency = explainer.method


def jpeg(image: np.ndarray, *, side: int = PICTURE_SIDE) -> bytes:
    """An RGB uint8 image as a JPEG whose longer side is ``side`` pixels."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = side / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * scale)),
                              max(1, round(picture.height * scale))), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def data_uri(jpeg_bytes: bytes) -> str:
    """A JPEG inside the page: the report fetches nothing."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode("ascii")


def _explainer(run_dir: Path):
    """A callable: example -> (face at the model's input size, its map or None), with
    ``method`` naming the map."""
    from modelkit.outside.card import is_outside_model

    if not is_outside_model(run_dir):
        # A run whose model file is gone (deleted to save space) still shows its faces.
        return _GradCam(run_dir) if (run_dir / MODEL_FILE).is_file() else _FacesOnly()
    try:
        from modelkit.prediction.predictors import check_predicts_faces, load_predictor

        check_predicts_faces(run_dir)
        return _Occlusion(load_predictor(run_dir))
    except ValueError:  # a predictions file: there is no model to ask
        return _FacesOnly()


class _GradCam:
    method = "gradcam"

    def __init__(self, run_dir: Path):
        from modelkit import saliency

        self.model = saliency.load_run_model(run_dir)
        self.size = saliency.image_size(self.model)

    def __call__(self, example: Example):
        import warnings

        from modelkit import saliency
        from modelkit.data import decode

        face = decode.decode_file(example.path, image_size=self.size)
        with warnings.catch_warnings():  # a constant map is drawn as no heat, as said
            warnings.simplefilter("ignore", saliency.ConstantMapWarning)
            result = saliency.explain_detailed(self.model, face[None].astype(np.float32),
                                               head=example.head, method=self.method)
        return face, result.maps[0]


class _Occlusion:
    method = "occlusion"

    def __init__(self, predictor):
        self.predictor = predictor

    def __call__(self, example: Example):
        from modelkit.data import decode
        from modelkit.saliency.occlusion import explain_any

        face = decode.decode_file(example.path, image_size=self.predictor.image_size[0])
        heat, _ = explain_any(self.predictor, face, head=example.head)
        return face, heat


class _FacesOnly:
    method = None

    def __call__(self, example: Example):
        from modelkit.data import decode

        return decode.decode_file(example.path, image_size=PICTURE_SIDE), None
