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
