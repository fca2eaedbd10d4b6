"""Faces in photos: find them (MTCNN), level the eyes, crop them as the training set is cropped.

A model trained on UTKFace's "aligned & cropped" chips has only ever seen faces framed
one way: upright, eyes level, at one size and place in the picture. A real photo (or a
loosely cropped set such as FairFace, whose crops carry padding 0.25) is brought to that
framing before the model sees it:

1. **detect** with MTCNN (``modelkit.data.faces.detect``): a box, a confidence and five
   landmarks per face.
2. **align**: rotate about the eye midpoint until the eyes are level, scale and move so
   the eyes land where UTKFace's are (:data:`UTKFACE_FRAMING`), and cut a
   :data:`CROP_SIZE` square (UTKFace's chip size). A face larger than the crop is first
   shrunk with the decoder's antialiased resize, so the warp itself only rotates.
3. the crop is then fed exactly as a training image: ``modelkit.data.decode``'s
   resize to the model's S x S (``decode.model_inputs``).

A face narrower than ``face_detect.MIN_FACE_SIDE`` pixels (its box's shorter side) is
reported as too small rather than blown up into a guess, and a photo without a face
raises :class:`NoFaceError`: it is never used uncropped.

**How the framing was estimated** (``bench/bench_faces.py framing``, docs/BENCHMARKS.md):
MTCNN ran on 1,000 seeded random chips of ../shared/data/utkface_sample (200 x 200;
it found a face in 979) and every landmark was divided by the chip's side. Medians
(10th-90th percentile): eye midpoint at x 0.490 (0.476-0.508), y 0.289 (0.274-0.305);
eye distance 0.385 (0.358-0.412); eye midpoint to mouth midpoint 0.398 (0.366-0.433);
the face box (not clipped to the chip) 0.823 wide (0.772-0.877) and 1.071 high
(1.007-1.141), so the box reaches past the chip at the chin; the eyes' roll 1.1 degrees
(0.2-3.6): the chips are already levelled. The crop's side in the photo is estimated
from the eye distance and the eye-to-mouth distance (the mean of ``distance /
template``): of the measures tried (each distance alone, their mean, their maximum,
the box's sqrt(w h)), this mean varied least across the chips (coefficient of
variation 0.046, against 0.062 and 0.071 for the two distances alone and 0.050 for the
box), and it halves the error of either one when the head turns (a turn shortens the
eye distance, a nod the eye-to-mouth distance).

Example::

    from modelkit.data import decode

    from modelkit.data.faces import align as faces
    image = decode.decode_file("group.jpg")
    photo = faces.find_faces(image, name="group.jpg")      # NoFaceError when there is none
    crops = [f.crop for f in photo.usable]                  # (200, 200, 3) uint8 each
    x = decode.model_inputs(crops, image_size=64)           # the model's input
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelkit.data.faces.detect import (
    DETECTOR_NAME,
    MIN_CONFIDENCE,
    MIN_DETECT_SIDE,
    MIN_FACE_SIDE,
    DetectedFace,
    detect_faces,
)

CROP_SIZE = 200            # the aligned crop's side: UTKFace's chip size


@dataclass(frozen=True)
class Framing:
    """Where the face lies in a crop, as fractions of the crop's side."""

    eye_x: float         # the eye midpoint, from the left
    eye_y: float         # the eye midpoint, from the top
    eye_distance: float  # between the two eyes
    eye_mouth: float     # from the eye midpoint to the mouth midpoint


# UTKFace's chips, measured as the module docstring says.
UTKFACE_FRAMING = Framing(eye_x=0.490, eye_y=0.289, eye_distance=0.385, eye_mouth=0.398)


class NoFaceError(ValueError):
    """The detector found no face in the photo (``str(error)`` is the message to show)."""


class FaceTooSmallError(ValueError):
    """Every face found is smaller than :data:`MIN_FACE_SIDE`."""


# ----------------------------------------------------------------------------- alignment

def alignment(face: DetectedFace, *, framing: Framing = UTKFACE_FRAMING,
              size: int = CROP_SIZE) -> np.ndarray:
    """The 2 x 3 affine matrix from crop pixels (u, v, 1) to photo pixels: a rotation
    about the eye midpoint by the eyes' roll, a scale from the eye and eye-to-mouth
    distances, and the move that puts the eye midpoint where ``framing`` has it."""
    left, right = face.point("left_eye"), face.point("right_eye")
    mid = (left + right) / 2
    mouth = (face.point("mouth_left") + face.point("mouth_right")) / 2
    side = (np.linalg.norm(right - left) / framing.eye_distance
            + np.linalg.norm(mouth - mid) / framing.eye_mouth) / 2   # the crop's side in photo px
    angle = math.radians(face.eye_roll)
    k = side / size
    rotate = k * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    anchor = np.array([framing.eye_x * size, framing.eye_y * size])
    return np.hstack([rotate, (mid - rotate @ anchor)[:, None]])


def to_crop(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Photo pixels (N, 2) -> the crop's pixels under ``alignment``'s matrix."""
    linear, shift = matrix[:, :2], matrix[:, 2]
    return (np.asarray(points, dtype=np.float64) - shift) @ np.linalg.inv(linear).T


def align_face(image: np.ndarray, face: DetectedFace, *, framing: Framing = UTKFACE_FRAMING,
               size: int = CROP_SIZE) -> np.ndarray:
    """The face cut out of ``image`` (H, W, 3) uint8, eyes level and framed as
    ``framing``: (size, size, 3) uint8. Outside the photo the edge pixels are repeated."""
    import tensorflow as tf

    from modelkit.data.decode import resize_tf

    matrix = alignment(face, framing=framing, size=size)
    region, (x0, y0) = np.asarray(image), (0, 0)
    zoom = float(np.hypot(*matrix[:, 0]))           # photo pixels per crop pixel
    if zoom > 1:  # shrink the part of the photo under the crop first (antialiased)
        corners = matrix @ np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]]).T
        x0, y0 = (max(0, math.floor(v) - 2) for v in corners.min(axis=1))
        x1 = min(region.shape[1], math.ceil(corners[0].max()) + 2)
        y1 = min(region.shape[0], math.ceil(corners[1].max()) + 2)
        if x1 - x0 < 2 or y1 - y0 < 2:
            x0, y0, x1, y1 = 0, 0, region.shape[1], region.shape[0]
        region = region[y0:y1, x0:x1]
        small = (max(1, round(region.shape[0] / zoom)), max(1, round(region.shape[1] / zoom)))
        fy, fx = small[0] / region.shape[0], small[1] / region.shape[1]
        region = resize_tf(region, size=small).numpy()
        # photo -> shrunk region (half-pixel centres, as tf.image.resize): f * (p - p0) + (f - 1) / 2
        matrix = np.diag([fx, fy]) @ (matrix - np.array([[0, 0, x0], [0, 0, y0]]))
        matrix[:, 2] += [(fx - 1) / 2, (fy - 1) / 2]
    transform = tf.constant([[*matrix[0], *matrix[1], 0.0, 0.0]], tf.float32)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.constant(region[None], tf.float32), transforms=transform,
        output_shape=tf.constant([size, size]), fill_value=0.0, interpolation="BILINEAR",
        fill_mode="NEAREST")
    return tf.cast(tf.clip_by_value(tf.round(out[0]), 0, 255), tf.uint8).numpy()


# ----------------------------------------------------------------------------- photos

@dataclass
class FoundFace:
    """A numbered face of a photo: its detection, its aligned crop (None when it is
    too small to use) and the reason it cannot be used."""

    number: int
    face: DetectedFace
    crop: np.ndarray | None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass
class PhotoFaces:
    """The faces of one photo, numbered left to right from 1."""

    name: str
    shape: tuple[int, int]
    faces: list[FoundFace]

    @property
    def usable(self) -> list[FoundFace]:
        return [f for f in self.faces if f.usable]

    def require_usable(self) -> list[FoundFace]:
        """The usable faces.

        Raises:
            FaceTooSmallError: every face is below MIN_FACE_SIDE (the message says which).
        """
        if not self.usable:
            sizes = ", ".join(f"face {f.number}: {f.face.side:.0f} px" for f in self.faces)
            raise FaceTooSmallError(
                f"{self.name}: every face found is too small to use ({sizes}; the minimum is "
                f"MIN_FACE_SIDE = {MIN_FACE_SIDE} px across); use a photo where the face is larger")
        return self.usable


def find_faces(image: np.ndarray, *, name: str = "photo",
               detections: Sequence[DetectedFace] | None = None,
               framing: Framing = UTKFACE_FRAMING, size: int = CROP_SIZE) -> PhotoFaces:
    """Detect (unless ``detections`` are given, e.g. from the cache), number and align
    the faces of one decoded photo.

    Raises:
        NoFaceError: the detector found no face; the photo is never used uncropped.
    """
    faces = list(detect_faces(image) if detections is None else detections)
    if not faces:
        raise NoFaceError(
            f"{name}: no face found ({DETECTOR_NAME}, confidence >= {MIN_CONFIDENCE}, faces "
            f"of at least {MIN_DETECT_SIDE} px); use a photo with a clearly visible, "
            "roughly frontal face")
    found = []
    for number, face in enumerate(sorted(faces, key=lambda f: (f.box[0], f.box[1])), start=1):
        problem = face.size_problem()
        crop = None if problem else align_face(image, face, framing=framing, size=size)
        found.append(FoundFace(number=number, face=face, crop=crop, problem=problem))
    return PhotoFaces(name=name, shape=tuple(np.asarray(image).shape[:2]), faces=found)
