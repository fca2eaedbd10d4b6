"""Checked image uploads: good images decode to RGB through the one decoder (upright
by their EXIF orientation), bad ones get a clear message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from modelkit import uploads
from modelkit.data import decode
from tests.helpers.images import png_header_only


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


RGB = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))


@pytest.mark.parametrize(("name", "data", "mode_note"), [
    ("face.png", encode(RGB, "PNG"), "rgb"),
    ("face.JPG", encode(RGB, "JPEG"), "rgb"),
    ("face.webp", encode(RGB, "WEBP"), "rgb"),
    ("face.png", encode(RGB.convert("L"), "PNG"), "grey"),
    ("face.png", encode(RGB.convert("RGBA"), "PNG"), "alpha"),
    ("face.jpeg", encode(RGB.convert("CMYK"), "JPEG"), "cmyk"),
    ("face.png", encode(RGB.convert("P"), "PNG"), "palette"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_good_images_decode_to_rgb(name, data, mode_note):
    image = uploads.decode_image_bytes(data, name=name)
    assert image.shape == (20, 30, 3), mode_note
    assert image.dtype == np.uint8


def test_exif_rotation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(RGB, "JPEG", exif=exif.tobytes())
    assert uploads.decode_image_bytes(data, name="face.jpg").shape == (30, 20, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_the_pixels_as_pil_does(orientation):
    """Lossless PNG, so TensorFlow's pixels and PIL's are the same before turning."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(RGB, "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    decoded = uploads.decode_image_bytes(data, name="face.png")
    np.testing.assert_array_equal(decoded, expected)
    # At the model's size: the upright photo resized as training resizes.
    np.testing.assert_array_equal(uploads.decode_image_bytes(data, name="face.png", image_size=8),
                                  decode.decode_bytes(encode(Image.fromarray(expected), "PNG"),
                                                      image_size=8))


def test_upload_pixels_are_the_decoders():
    """An upload is decoded by the one decoder (TensorFlow), not by PIL."""
    data = encode(RGB, "JPEG")
    np.testing.assert_array_equal(uploads.decode_image_bytes(data, name="face.jpg"),
                                  decode.decode_bytes(data))


@pytest.mark.parametrize(("name", "data", "kwargs", "message"), [
    ("notes.txt", b"hello", {}, r"notes.txt: file type 'txt' is not accepted; expected one of "
                                r"\.jpg, \.jpeg, \.png"),
    ("face", encode(RGB, "PNG"), {}, r"file type '\(none\)' is not accepted"),
    ("face.gif", encode(RGB, "GIF"), {}, "file type 'gif' is not accepted"),
    ("face.png", b"", {}, "face.png: the file is empty"),
    ("face.png", b"this is not an image at all", {}, "face.png: not a readable image"),
    ("face.png", encode(RGB, "PNG")[:150], {}, "face.png: the image data is damaged or truncated"),
    ("face.jpg", encode(RGB, "JPEG")[:300], {}, "face.jpg: the image data is damaged or truncated"),
    ("face.png", encode(RGB, "JPEG"), {}, "face.png: the content is JPEG, not PNG"),
    ("face.png", encode(RGB, "PNG"), {"max_bytes": 100}, r"MiB is too large; the limit is"),
    ("face.png", encode(RGB, "PNG"), {"max_pixels": 500},
     r"30x20 pixels is too large \(limit 0 megapixels\)"),
    ("bomb.png", png_header_only(7_000, 7_000), {},
     r"bomb.png: 7000x7000 pixels is too large .* decompression bomb"),
    ("bomb.png", png_header_only(50_000, 50_000), {},  # PIL's own guard fires first
     r"bomb.png: refused as a possible decompression bomb"),
], ids=lambda value: value[:40] if isinstance(value, str) else "")
def test_bad_uploads_get_a_clear_message(name, data, kwargs, message):
    with pytest.raises(uploads.UploadError, match=message):
        uploads.decode_image_bytes(data, name=name, **kwargs)


def test_pil_bomb_guard_is_a_refusal_too(monkeypatch):
    """Even under a generous max_pixels, PIL's own MAX_IMAGE_PIXELS limit (its warning
    as well as its error) is turned into the same clear refusal, not a crash."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for size in ((15, 10), (30, 20)):  # above the warning limit, above twice it (error)
        data = encode(Image.new("RGB", size), "PNG")
        with pytest.raises(uploads.UploadError, match="possible decompression bomb"):
            uploads.decode_image_bytes(data, name="face.png", max_pixels=10**9)


def test_decode_image_file_checks_files_on_disk(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file at"):
        uploads.decode_image_file(tmp_path / "missing.png")
    (tmp_path / "face.png").write_bytes(encode(RGB, "PNG"))
    assert uploads.decode_image_file(tmp_path / "face.png").shape == (20, 30, 3)
    (tmp_path / "big.png").write_bytes(b"\0" * 2000)
    with pytest.raises(uploads.UploadError, match="too large"):
        uploads.decode_image_file(tmp_path / "big.png", max_bytes=1000)
