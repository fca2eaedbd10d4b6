"""The one image decoder: a file (or its bytes) -> the exact tensor the model is fed.

Training, evaluation, saliency, uploads and the dashboard's pictures all decode here,
so a saliency map explains the very pixels the model was trained and evaluated on:

1. **decode** with ``tf.io.decode_image(channels=3)`` to (H, W, 3) uint8 RGB. A file
   TensorFlow cannot read as is (TIFF, 1-bit BMP, animated GIF...) is first turned into
   an RGB PNG with the scan's own rules (``modelkit.data.scan.tf_can_decode`` and
   ``to_rgb``), exactly as the scan's converted copy that the manifest points at.
   When a JPEG is at least twice the target size, it is decoded already shrunk by
   libjpeg's DCT scaling (``tf.io.decode_jpeg(ratio=2|4|8)``, the largest ratio that
   keeps both sides at or above the target; :func:`jpeg_ratio`, sizes from the file's
   header): a 200 px face for a 64 px model decodes at 100 px.
2. **orient** (uploads only): the EXIF orientation, applied with exact pixel moves, so
   a phone photo is explained upright. Dataset files are read as the pipeline reads
   them, without it.
3. **resize** to the model's S x S (:func:`resize_tf`: the area filter when shrinking,
   antialiased bilinear when enlarging), rounded and clipped to uint8: the form the
   pipeline caches.
4. **cast** to float32 (values 0..255): what the model is fed (it rescales itself).

Two faces of the same ops:

* TensorFlow, graph-compatible, for ``tf.data`` (``modelkit.pipeline``):
  :func:`read_image_tf`, :func:`decode_resized_tf`, :func:`decode_tf`,
  :func:`resize_tf`, :func:`to_model_input_tf`.
* numpy, for saliency, uploads and the views: :func:`decode_file`,
  :func:`decode_bytes`, :func:`load_model_inputs`, :func:`model_inputs`,
  :func:`display_image`, :func:`thumbnail`. They run the same TensorFlow functions
  eagerly, so their results are *equal* to the pipeline's, not merely close
  (tests/test_saliency.py checks it against ``modelkit.pipeline.make_dataset``).

The reduced-size JPEG decode lives in :func:`decode_resized_tf`, the one place that
knows both the bytes and the target size; every path that wants model-size pixels
from bytes or a file goes through it. (Pixels already decoded at full size, handed to
:func:`model_inputs`, can only be resized: for a large JPEG that differs from the
file's model input by a level or two, so pass files or their model input instead.)

Example::

    from modelkit.data import decode
    x = decode.load_model_inputs(["face.jpg"], image_size=64)   # (1, 64, 64, 3) float32
    # == next(iter(make_dataset(...)))[0][:1] for a manifest holding face.jpg
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from modelkit.data.scan import tf_can_decode, to_rgb

MODEL_INPUT_DTYPE = tf.float32   # the model is fed float32 pixel values 0..255
STORED_DTYPE = tf.uint8          # the pipeline caches uint8 (a quarter of the size)
# The EXIF orientation values (1 = stored upright), as ``orient_tf`` applies them.
ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)
# libjpeg's DCT scaling: a JPEG decodes at 1/ratio of its size for these ratios.
JPEG_RATIOS = (1, 2, 4, 8)


class ImageDecodeError(ValueError):
    """The bytes are not an image this decoder (TensorFlow, or PIL then TensorFlow) reads."""


# ------------------------------------------------------------------ TensorFlow (graph)

def jpeg_ratio(height: int, width: int, *, target: int | tuple[int, int]) -> int:
    """The DCT scaling ratio a ``height`` x ``width`` JPEG is decoded at for a
    ``target`` (S, or (height, width)) resize: the largest of :data:`JPEG_RATIOS` whose
    decoded sides (``ceil(side / ratio)``) both stay at or above the target's, so the
    antialiased resize that follows always shrinks (or keeps) and never enlarges."""
    target_h, target_w = (target, target) if isinstance(target, int) else target
    return max((r for r in JPEG_RATIOS
                if -(-height // r) >= target_h and -(-width // r) >= target_w), default=1)


def _jpeg_ratio_tf(contents: tf.Tensor, target: tuple[int, int]) -> tf.Tensor:
    """:func:`jpeg_ratio` in the graph, as an index into :data:`JPEG_RATIOS`; the size
    comes from the JPEG header (``extract_jpeg_shape`` decodes no pixels)."""
    shape = tf.io.extract_jpeg_shape(contents)
    index = tf.constant(0)
    for i, r in enumerate(JPEG_RATIOS[1:], start=1):
        fits = ((shape[0] + r - 1) // r >= target[0]) & ((shape[1] + r - 1) // r >= target[1])
        index = tf.where(fits, i, index)
    return index


def decode_tf(contents: tf.Tensor, *, target: int | tuple[int, int] | None = None) -> tf.Tensor:
    """Encoded bytes (a scalar string tensor) -> (H, W, 3) uint8 RGB: at the file's
    size, or, with ``target`` (S or (height, width)), a JPEG already shrunk by the
    :func:`jpeg_ratio` for it (other formats always at their own size)."""
    if target is None:
        return tf.io.decode_image(contents, channels=3, expand_animations=False)
    target = (target, target) if isinstance(target, int) else tuple(target)

    def scaled():
        return tf.switch_case(_jpeg_ratio_tf(contents, target), [
            lambda r=r: tf.io.decode_jpeg(contents, channels=3, ratio=r) for r in JPEG_RATIOS])
    return tf.cond(tf.io.is_jpeg(contents), scaled, lambda: decode_tf(contents))


def resize_tf(images: tf.Tensor, *, size: int | tuple[int, int]) -> tf.Tensor:
    """(H, W, 3) or (N, H, W, 3) pixels (uint8 or float 0..255) -> ``size`` (S or
    (height, width)), antialiased, rounded and clipped to uint8. At the same size it
    is the identity on uint8 values.

    Shrinking (both sides at or above the target, the usual case after a DCT-scaled
    decode) averages the exact area each output pixel covers (``method="area"``, a
    box filter: every input pixel counts, nothing aliases); an image smaller than the
    target on either side is enlarged bilinearly (``antialias=True``). Decoding plus
    the area filter runs at more than twice the rate of decoding plus the antialiased
    bilinear one (``ScaleAndTranslate``): docs/BENCHMARKS.md section 2, ceiling vs
    ceiling-aa."""
    height, width = (size, size) if isinstance(size, int) else size
    shape = tf.shape(images)
    shrinks = (shape[-3] >= height) & (shape[-2] >= width)
    resized = tf.cond(shrinks,
                      lambda: tf.image.resize(images, (height, width), method="area"),
                      lambda: tf.image.resize(images, (height, width), antialias=True))
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), STORED_DTYPE)


def orient_tf(image: tf.Tensor, orientation: int = 1) -> tf.Tensor:
    """Apply an EXIF orientation (a Python int 1..8) to (H, W, 3) pixels, as
    ``PIL.ImageOps.exif_transpose`` does; 1 leaves them as they are."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"EXIF orientation must be one of 1..8, got {orientation!r}")
    if orientation in (2, 3):
        image = tf.reverse(image, [1])
    if orientation in (3, 4):
        image = tf.reverse(image, [0])
    if orientation in (5, 6, 7, 8):
        image = tf.transpose(image, [1, 0, 2])
        if orientation in (6, 7):
            image = tf.reverse(image, [1])
        if orientation in (7, 8):
            image = tf.reverse(image, [0])
    return image


def decode_resized_tf(contents: tf.Tensor, *, image_size: int | tuple[int, int],
                      orientation: int = 1) -> tf.Tensor:
    """Encoded bytes -> (S, S, 3) uint8, the form the pipeline caches: decode (a large
    JPEG at a reduced size, :func:`jpeg_ratio`), orient, resize."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    # Orientations 5..8 transpose: the stored image's sides are the target's, swapped.
    stored = (width, height) if orientation in (5, 6, 7, 8) else (height, width)
    return resize_tf(orient_tf(decode_tf(contents, target=stored), orientation), size=image_size)


def read_image_tf(path: tf.Tensor, *, image_size: int) -> tf.Tensor:
    """A file path (string tensor) -> (S, S, 3) uint8: what ``modelkit.pipeline``
    maps over the manifest's paths."""
    return decode_resized_tf(tf.io.read_file(path), image_size=image_size)


def to_model_input_tf(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 0..255, the model's input."""
    return tf.cast(images, MODEL_INPUT_DTYPE)


# ------------------------------------------------------------------ numpy entry points

def tf_readable(data: bytes, *, name: str = "image") -> bytes:
    """``data`` itself when TensorFlow decodes it correctly as is, else an RGB PNG of
    it (the scan's converted copy, made in memory).

    Raises:
        ImageDecodeError: PIL does not recognise the bytes as an image, or its header
            is damaged.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if tf_can_decode(image_format=image.format, mode=image.mode,
                             n_frames=getattr(image, "n_frames", 1)):
                return data
            buffer = io.BytesIO()
            to_rgb(image).save(buffer, format="PNG")
            return buffer.getvalue()
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name}: not an image (no image format recognised); "
                               "expected a JPEG, PNG, WebP, BMP, GIF or TIFF file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # PIL's damaged-header errors
        raise ImageDecodeError(f"{name}: the image data could not be decoded ({exc}); "
                               "re-save the file") from None


def decode_bytes(data: bytes, *, image_size: int | None = None, orientation: int = 1,
                 name: str = "image") -> np.ndarray:
    """Encoded bytes -> uint8 RGB: (H, W, 3) at the file's size, or (S, S, 3) resized
    as the pipeline resizes when ``image_size`` is given.

    Raises:
        ImageDecodeError: not an image, or damaged pixel data.
    """
    readable = tf.constant(tf_readable(data, name=name))
    try:
        if image_size is None:
            return orient_tf(decode_tf(readable), orientation).numpy()
        return decode_resized_tf(readable, image_size=image_size,
                                 orientation=orientation).numpy()
    except tf.errors.InvalidArgumentError as exc:
        raise ImageDecodeError(f"{name}: the image data could not be decoded "
                               f"({exc.message.splitlines()[0]}); re-save the file") from None


def decode_file(path: str | os.PathLike, *, image_size: int | None = None) -> np.ndarray:
    """A file -> uint8 RGB, as :func:`decode_bytes`; with ``image_size`` exactly the
    pixels the pipeline caches for that file (no EXIF orientation, as in training).

    Raises:
        FileNotFoundError: no such file.
        ImageDecodeError: not an image, or damaged pixel data.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no image file at {file}")
    return decode_bytes(file.read_bytes(), image_size=image_size, name=str(file))


def model_inputs(images: np.ndarray | Sequence[np.ndarray], *, image_size: int) -> np.ndarray:
    """Decoded pixels of any size -> the model's input, (N, S, S, 3) float32 0..255:
    resized (antialiased, rounded to uint8 values) and cast as the pipeline does.

    Args:
        images: (H, W, 3) or (N, H, W, 3) uint8/float 0..255, or a list of (H_i, W_i, 3).
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return to_model_input_tf(resize_tf(images, size=image_size)).numpy()
    batch = [images] if isinstance(images, np.ndarray) else list(images)
    out = np.empty((len(batch), image_size, image_size, 3), dtype=np.float32)
    for i, image in enumerate(batch):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected (H, W, 3) RGB pixels, got shape {image.shape}")
        out[i] = to_model_input_tf(resize_tf(image, size=image_size)).numpy()
    return out


def load_model_inputs(paths: Sequence[str | os.PathLike], *, image_size: int) -> np.ndarray:
    """Files -> (N, S, S, 3) float32: the tensor the pipeline feeds the model for them."""
    out = np.empty((len(paths), image_size, image_size, 3), dtype=np.float32)
    for i, path in enumerate(paths):
        out[i] = decode_file(path, image_size=image_size)
    return out


def display_size(height: int, width: int, *, max_side: int) -> tuple[int, int]:
    """(height, width) shrunk to fit ``max_side`` with the aspect ratio kept (never
    enlarged, at least one pixel)."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def display_image(image: np.ndarray, *, max_side: int) -> np.ndarray:
    """Decoded (H, W, 3) pixels shrunk for display with the model's resize (aspect kept)."""
    size = display_size(*image.shape[:2], max_side=max_side)
    return image if size == image.shape[:2] else resize_tf(image, size=size).numpy()


def thumbnail(path: str | os.PathLike, *, max_side: int) -> np.ndarray:
    """A file decoded as the pipeline decodes it, shrunk for display (aspect kept)."""
    return display_image(decode_file(path), max_side=max_side)
