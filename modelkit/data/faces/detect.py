"""Faces found in a photo by MTCNN: boxes, scores and five landmarks.

MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks", IEEE SPL 2016), as the ``mtcnn`` 1.0 package builds it on
TensorFlow; its wheel ships the three networks' weights, so nothing is downloaded. One
detector per process (:func:`detector`). Faces scoring below :data:`MIN_CONFIDENCE` are
dropped; a photo larger than :data:`DETECT_MAX_SIDE` is searched on a shrunk copy (the
boxes are scaled back). Photos of one size are searched in batches (about 4x faster
per image on a CPU than one at a time, with the same faces).

``modelkit.data.faces.align`` aligns and crops what this finds; ``modelkit.data.faces.crops``
caches it per file.

Example::

    from modelkit.data import decode

    from modelkit.data.faces import detect as face_detect
    found = face_detect.detect_faces(decode.decode_file("group.jpg"))
    [(f.box, f.confidence, f.landmarks["left_eye"]) for f in found]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DETECTOR_NAME = "mtcnn 1.0"
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # left/right in the picture
MIN_CONFIDENCE = 0.9       # MTCNN's last-stage score a face must reach (its own default is 0.8)
MIN_DETECT_SIDE = 20       # MTCNN's smallest face searched for, in the searched copy's pixels
DETECT_MAX_SIDE = 1600     # a photo's longer side is shrunk to this before searching it
MIN_FACE_SIDE = 32         # a face box's shorter side must be at least this many photo pixels
BATCH_SIZE = 32            # same-size images per detector call


@dataclass(frozen=True)
class DetectedFace:
    """One face as MTCNN found it, in the photo's pixels (x right, y down).

    Attributes:
        box: (x, y, width, height) of the face box; it may reach past the photo's edge.
        confidence: MTCNN's score, 0..1.
        landmarks: (x, y) per name of :data:`LANDMARKS` ("left" = left in the picture).
    """

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: dict[str, tuple[float, float]] = field(hash=False)

    @property
    def side(self) -> float:
        """The box's shorter side, in photo pixels."""
        return min(self.box[2], self.box[3])

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    def point(self, name: str) -> np.ndarray:
        return np.asarray(self.landmarks[name], dtype=np.float64)

    @property
    def eye_roll(self) -> float:
        """The angle of the line from the left to the right eye, in degrees (0 = level;
        positive when the right eye is lower in the picture)."""
        dx, dy = self.point("right_eye") - self.point("left_eye")
        return math.degrees(math.atan2(dy, dx))

    def size_problem(self, *, min_side: float = MIN_FACE_SIDE) -> str | None:
        """Why the face is too small to use, or None."""
        if self.side >= min_side:
            return None
        return (f"the face is {self.side:.0f} px across, smaller than the minimum "
                f"MIN_FACE_SIDE = {min_side} px; use a photo where the face is larger "
                "(closer, or at a higher resolution)")

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box],
                "confidence": round(float(self.confidence), 5),
                "landmarks": {k: [round(float(v), 2) for v in xy] for k, xy in self.landmarks.items()}}

    @classmethod
    def from_dict(cls, values: dict) -> DetectedFace:
        return cls(box=tuple(float(v) for v in values["box"]),
                   confidence=float(values["confidence"]),
                   landmarks={k: (float(x), float(y)) for k, (x, y) in values["landmarks"].items()})


@functools.cache
def detector():
    """The one MTCNN instance of this process (built on first use: about 2 s)."""
    import tensorflow as tf
    from mtcnn import MTCNN

    return MTCNN(device="GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0")


def detect_faces(image: np.ndarray) -> list[DetectedFace]:
    """The faces in one (H, W, 3) uint8 RGB photo, left to right."""
    return detect_batch([image])[0]


def detect_batch(images: Sequence[np.ndarray], *, batch_size: int = BATCH_SIZE) -> list[list[DetectedFace]]:
    """:func:`detect_faces` for many photos: those of one size share detector calls
    (MTCNN stacks a batch into one tensor), which gives each the same faces as alone."""
    shrunk, scales = zip(*(_search_copy(np.asarray(im)) for im in images), strict=True) \
        if len(images) else ((), ())
    by_shape: dict[tuple, list[int]] = {}
    for i, image in enumerate(shrunk):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected (H, W, 3) RGB pixels, got shape {image.shape}")
        by_shape.setdefault(image.shape, []).append(i)
    found: list[list[DetectedFace]] = [[] for _ in images]
    for members in by_shape.values():
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            rows = detector().detect_faces([shrunk[i] for i in chunk], output_type="numpy",
                                           box_format="xyxy", fit_to_image=False,
                                           min_face_size=MIN_DETECT_SIDE,
                                           threshold_onet=MIN_CONFIDENCE)
            for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
                i = chunk[int(row[0])]
                found[i].append(_face_of(row, scale=scales[i]))
    return [sorted(faces, key=lambda f: (f.box[0], f.box[1])) for faces in found]


def _search_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo as searched (shrunk to DETECT_MAX_SIDE) and the factor back to it."""
    longest = max(image.shape[:2])
    if longest <= DETECT_MAX_SIDE:
        return image, 1.0
    from modelkit.data.decode import resize_tf

    f = DETECT_MAX_SIDE / longest
    size = (max(1, round(image.shape[0] * f)), max(1, round(image.shape[1] * f)))
    return resize_tf(image, size=size).numpy(), image.shape[1] / size[1]


def _face_of(row: np.ndarray, *, scale: float) -> DetectedFace:
    """A row of MTCNN's numpy output: image, x1, y1, x2, y2, score, 5 xs, 5 ys."""
    # Rounded as the cache stores them, so a cached face is the very face found.
    x1, y1, x2, y2 = (round(float(v), 2) for v in row[1:5] * scale)
    xs, ys = np.round(row[6:11] * scale, 2), np.round(row[11:16] * scale, 2)
    return DetectedFace(box=(x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)),
                        confidence=round(float(row[5]), 5),
                        landmarks={n: (float(x), float(y)) for n, x, y in zip(LANDMARKS, xs, ys, strict=True)})


def primary_face(faces: Sequence[DetectedFace]) -> DetectedFace | None:
    """The face a dataset image is about: the largest box (None when there is none)."""
    return max(faces, key=lambda f: f.area, default=None)
