"""Checked decoding of images that come from outside: browser uploads and CLI files.

An upload is untrusted bytes. Before anything is decoded we check the file name's type,
the byte size, and the pixel count the header declares, so a decompression bomb (a few
kilobytes that would expand to gigabytes) is refused before it is expanded. Every
refusal is an :class:`UploadError` whose message says what was expected, what came
and what to do, ready to show as is. What passes is decoded by the one decoder,
``modelkit.data.decode``, exactly as a training file is (plus its EXIF orientation).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from modelkit.config import MAX_PIXELS

# File types a face photo comes in, by extension, and the PIL formats they may hold.
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "jpg": ("JPEG", "MPO"), "jpeg": ("JPEG", "MPO"), "png": ("PNG",),
    "webp": ("WEBP",), "bmp": ("BMP",),
}
MAX_BYTES = 10 * 1024 * 1024          # 10 MiB, as server.maxUploadSize: far above any face photo
EXIF_ORIENTATION = 0x0112             # the EXIF tag saying how to turn the pixels upright


class UploadError(ValueError):
    """An upload that cannot be used; ``str(error)`` is the message for the user."""


def decode_image_bytes(data: bytes, *, name: str, image_size: int | None = None,
                       max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an uploaded image into uint8 RGB through the one decoder
    (``modelkit.data.decode``): (H, W, 3) at its own size, or the model's (S, S, 3)
    pixels when ``image_size`` is given.

    Checks, in order: the name's extension is an allowed type, the file is not empty and
    at most ``max_bytes``, the header is an image of that type, the declared size is at
    most ``max_pixels`` (PIL's own DecompressionBombError / warning are turned into the
    same refusal), and the pixel data decodes completely (a truncated file is refused,
    not half-drawn). Only then does TensorFlow decode it, as training decodes a file;
    the EXIF orientation is applied (a phone photo comes out upright); grey, palette,
    RGBA and CMYK become RGB.

    Raises:
        UploadError: with a one-line message naming the file and the problem.
    """
    _check_type(name)
    _check_size(len(data), name=name, max_bytes=max_bytes)
    orientation = _checked_orientation(data, name=name, max_pixels=max_pixels)
    # TensorFlow is imported here, not with this module: the limits above are read by
    # pages and the server config, which must stay quick to import.
    from modelkit.data import decode

    if orientation not in decode.ORIENTATIONS:
        orientation = 1  # a malformed tag: show the pixels as stored, as PIL does
    try:
        return decode.decode_bytes(data, image_size=image_size, orientation=orientation,
                                   name=name)
    except decode.ImageDecodeError as exc:
        raise UploadError(f"{exc}; upload an ordinary face photo") from exc


def decode_image_file(path: str | os.PathLike, *, image_size: int | None = None,
                      max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`decode_image_bytes` for a file on disk (the CLI's ``--image``).

    Raises:
        FileNotFoundError: no such file.
        UploadError: as for uploads.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no image file at {file}")
    size = file.stat().st_size
    _check_size(size, name=file.name, max_bytes=max_bytes)  # before reading it all
    return decode_image_bytes(file.read_bytes(), name=file.name, image_size=image_size,
                              max_bytes=max_bytes, max_pixels=max_pixels)


def _checked_orientation(data: bytes, *, name: str, max_pixels: int) -> int:
    """Validate the image with PIL (header, format, pixel count, complete pixel data)
    and return its EXIF orientation tag (1, upright, when absent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                _check_format(image, name=name)
                _check_pixels(image.size, name=name, max_pixels=max_pixels)
                image.load()
                orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadError(f"{name}: refused as a possible decompression bomb ({exc}); "
                              "upload an ordinary photo") from exc
        except UnidentifiedImageError as exc:
            raise UploadError(f"{name}: not a readable image (the content is not a "
                              f"{_type_list()} file); upload a face photo") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, UploadError):
                raise
            raise UploadError(f"{name}: the image data is damaged or truncated ({exc}); "
                              "re-save or re-download the file and try again") from exc
    return orientation


def _type_list() -> str:
    return "/".join(sorted({formats[0] for formats in ALLOWED_TYPES.values()}))


def _check_type(name: str) -> None:
    extension = Path(name).suffix.lower().lstrip(".")
    if extension not in ALLOWED_TYPES:
        raise UploadError(f"{name}: file type {extension or '(none)'!r} is not accepted; "
                          f"expected one of {', '.join('.' + e for e in ALLOWED_TYPES)}")


def _check_size(n_bytes: int, *, name: str, max_bytes: int) -> None:
    if n_bytes == 0:
        raise UploadError(f"{name}: the file is empty; upload a face photo")
    if n_bytes > max_bytes:
        raise UploadError(f"{name}: {n_bytes / 2**20:.1f} MiB is too large; the limit is "
                          f"{max_bytes / 2**20:.1f} MiB, so resize or compress the photo")


def _check_format(image: Image.Image, *, name: str) -> None:
    expected = ALLOWED_TYPES[Path(name).suffix.lower().lstrip(".")]
    if image.format not in expected:
        raise UploadError(f"{name}: the content is {image.format or 'unknown'}, not "
                          f"{' or '.join(expected)} as the name says; upload a real "
                          f"{_type_list()} image")


def _check_pixels(size: tuple[int, int], *, name: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise UploadError(f"{name}: the image declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise UploadError(f"{name}: {width}x{height} pixels is too large (limit "
                          f"{max_pixels / 1e6:.0f} megapixels); it is refused as a possible "
                          "decompression bomb, so upload a smaller photo")
