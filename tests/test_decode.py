"""The one decoder: its TensorFlow face (inside tf.data) and its numpy face give the same
pixels, resizing is the antialiased one, display copies keep the aspect ratio, and bad
bytes get a clear error. (That saliency's input equals the pipeline's, end to end, is
tests/test_saliency.py.)"""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from modelkit.data import decode


def write_png(path, *, width: int, height: int, seed: int = 0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path, pixels


def test_graph_and_numpy_faces_give_the_same_pixels(tmp_path):
    paths = [write_png(tmp_path / f"{i}.png", width=30 + 7 * i, height=50 - 5 * i, seed=i)[0]
             for i in range(3)]
    dataset = tf.data.Dataset.from_tensor_slices([str(p) for p in paths]).map(
        lambda p: decode.to_model_input_tf(decode.read_image_tf(p, image_size=24)))
    in_graph = np.stack([x.numpy() for x in dataset])
    np.testing.assert_array_equal(decode.load_model_inputs(paths, image_size=24), in_graph)
    full = [decode.decode_file(p) for p in paths]
    np.testing.assert_array_equal(decode.model_inputs(full, image_size=24), in_graph)
    assert in_graph.dtype == np.float32


def test_resize_is_antialiased_and_the_identity_at_the_same_size(tmp_path):
    path, pixels = write_png(tmp_path / "a.png", width=40, height=40)
    np.testing.assert_array_equal(decode.decode_file(path), pixels)
    np.testing.assert_array_equal(decode.decode_file(path, image_size=40), pixels)
    small = decode.decode_file(path, image_size=10)
    # Antialiased: each output pixel averages a 4x4 block, so noise is smoothed out
    # (a plain bilinear resize would pick single pixels and keep it).
    blocks = pixels.reshape(10, 4, 10, 4, 3).mean(axis=(1, 3))
    assert np.abs(small - blocks).mean() < 12
    assert small.std() < pixels.std() / 2


def test_model_inputs_take_one_image_a_batch_or_a_list():
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    batch = np.stack([one, one[::-1]])
    assert decode.model_inputs(one, image_size=8).shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(decode.model_inputs(batch, image_size=8),
                                  decode.model_inputs(list(batch), image_size=8))
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\) RGB pixels, got shape \(20, 30\)"):
        decode.model_inputs([one[..., 0]], image_size=8)


@pytest.mark.parametrize(("shape", "max_side", "expected"), [
    ((400, 300), 100, (100, 75)),
    ((300, 400), 100, (75, 100)),
    ((50, 40), 100, (50, 40)),     # never enlarged
    ((1000, 3), 100, (100, 1)),    # at least one pixel
])
def test_display_size_keeps_the_aspect_ratio(shape, max_side, expected):
    assert decode.display_size(*shape, max_side=max_side) == expected
    image = np.zeros((*shape, 3), np.uint8)
    assert decode.display_image(image, max_side=max_side).shape == (*expected, 3)


def test_thumbnail_is_a_display_copy_of_the_same_decode(tmp_path):
    path, _ = write_png(tmp_path / "a.png", width=80, height=40)
    full = decode.decode_file(path)
    np.testing.assert_array_equal(decode.thumbnail(path, max_side=20),
                                  decode.display_image(full, max_side=20))
    assert decode.thumbnail(path, max_side=20).shape == (10, 20, 3)


def test_bad_input_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file at"):
        decode.decode_file(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not pixels")
    with pytest.raises(decode.ImageDecodeError, match=r"notes.png: not an image"):
        decode.decode_file(tmp_path / "notes.png")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40)).save(buffer, format="JPEG")
    with pytest.raises(decode.ImageDecodeError, match="face.jpg: the image data could not be decoded"):
        decode.decode_bytes(buffer.getvalue()[:200], name="face.jpg")
    with pytest.raises(ValueError, match="EXIF orientation must be one of 1..8, got 9"):
        decode.orient_tf(tf.zeros((2, 2, 3), tf.uint8), 9)


# ------------------------------------------------------------------ reduced-size JPEG decode

@pytest.mark.parametrize(("height", "width", "target", "expected"), [
    (200, 200, 64, 2),         # UTKFace at the default size: decoded at 100 px
    (200, 200, 128, 1),        # 100 px would be below 128: full size
    (200, 200, 100, 2),        # exactly the target after halving
    (200, 200, 101, 1),
    (127, 127, 64, 2),         # ceil(127 / 2) = 64: libjpeg rounds up
    (126, 126, 64, 1),         # 63 < 64
    (448, 448, 64, 4),         # 112 px; 56 would be too small
    (224, 224, 224, 1),        # FairFace at its own size
    (1000, 1000, 64, 8),       # ratio 8 is the largest libjpeg offers
    (1000, 1000, 125, 8),      # ceil(1000 / 8) = 125
    (1000, 120, 64, 1),        # the short side decides: 60 < 64
    (200, 100, (64, 32), 2),   # (height, width) targets: 100 x 50 fits, 50 x 25 does not
    (30, 30, 64, 1),           # smaller than the target: never shrunk further
])
def test_jpeg_ratio_keeps_both_sides_at_or_above_the_target(height, width, target, expected):
    assert decode.jpeg_ratio(height, width, target=target) == expected


def write_jpeg(path, *, width: int, height: int):
    """A smooth gradient with a little noise, as a quality-95 JPEG."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    pixels = np.stack([255 * x / width, 255 * y / height, 128 + 60 * np.sin(x / 7.0)], axis=-1)
    pixels = np.clip(pixels + rng.normal(0, 4, pixels.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    return path


@pytest.mark.parametrize(("width", "height", "size", "ratio"), [
    (200, 200, 32, 4), (200, 120, 32, 2), (50, 40, 32, 1), (160, 200, 16, 8)])
def test_a_large_jpeg_is_decoded_at_the_chosen_ratio_then_resized(tmp_path, width, height, size,
                                                                  ratio):
    path = write_jpeg(tmp_path / "face.jpg", width=width, height=height)
    contents = tf.io.read_file(str(path))
    scaled = tf.io.decode_jpeg(contents, channels=3, ratio=ratio)
    expected = decode.resize_tf(scaled, size=size).numpy()
    np.testing.assert_array_equal(decode.decode_file(path, image_size=size), expected)
    # The tf.data face picks the same ratio from the header, inside the graph.
    in_graph = next(iter(tf.data.Dataset.from_tensors(str(path)).map(
        lambda p: decode.read_image_tf(p, image_size=size))))
    np.testing.assert_array_equal(in_graph.numpy(), expected)
    # Without a target (display, thumbnails) a JPEG decodes at its own size.
    assert decode.decode_file(path).shape == (height, width, 3)


def test_the_reduced_decode_looks_like_the_full_decode_resized(tmp_path):
    path = write_jpeg(tmp_path / "face.jpg", width=200, height=200)
    full = decode.resize_tf(decode.decode_file(path), size=64).numpy().astype(float)
    reduced = decode.decode_file(path, image_size=64).astype(float)
    assert decode.jpeg_ratio(200, 200, target=64) == 2
    assert np.abs(reduced - full).mean() < 2.0      # within a couple of levels of 255
    assert np.abs(reduced - full).max() < 40


def test_other_formats_and_rotated_uploads_decode_at_full_size_or_the_swapped_target(tmp_path):
    png, _ = write_png(tmp_path / "a.png", width=200, height=200)
    np.testing.assert_array_equal(decode.decode_file(png, image_size=32),
                                  decode.resize_tf(decode.decode_file(png), size=32).numpy())
    # A 200 wide x 120 high JPEG with orientation 6 (a quarter turn) is used upright:
    # the ratio is chosen for its stored sides, so an upright (48, 24) target is a stored
    # (24, 48) one -> ratio 4 (30 x 50 px); unswapped it would be 2.
    path = write_jpeg(tmp_path / "phone.jpg", width=200, height=120)
    data = path.read_bytes()
    assert decode.jpeg_ratio(120, 200, target=(24, 48)) == 4
    scaled = tf.io.decode_jpeg(data, channels=3, ratio=4)
    expected = decode.resize_tf(decode.orient_tf(scaled, 6), size=(48, 24)).numpy()
    got = decode.decode_resized_tf(tf.constant(data), image_size=(48, 24), orientation=6).numpy()
    np.testing.assert_array_equal(got, expected)


def test_shrinking_averages_each_output_pixel_s_area_and_enlarging_is_smooth():
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    # 40 -> 10: each output pixel is the mean of its 4 x 4 block, rounded.
    blocks = pixels.reshape(10, 4, 10, 4, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(decode.resize_tf(pixels, size=10).numpy(), np.round(blocks))
    # 8 -> 32: interpolated, not 4 x 4 copies of each pixel.
    big = decode.resize_tf(pixels[:8, :8], size=32).numpy().astype(int)
    block_ranges = big.reshape(8, 4, 8, 4, 3).max(axis=(1, 3)) - big.reshape(8, 4, 8, 4, 3).min(axis=(1, 3))
    assert (block_ranges > 0).mean() > 0.9
