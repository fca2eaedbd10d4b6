"""The stateless augmenter: what each transform does to a face, and that a seed fixes it."""

import numpy as np
import pytest
import tensorflow as tf

from modelkit.augment import AugmentConfig, augment_batch, augmented_examples

NOTHING = AugmentConfig(flip=False, rotation=0, zoom=0, shift=0, brightness=0, contrast=0)


@pytest.fixture
def faces():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (16, 20, 24, 3)).astype("float32")  # not square on purpose


def seed(value):
    return tf.constant([value, 7], dtype="int64")


def test_with_every_transform_off_the_images_come_back_unchanged(faces):
    np.testing.assert_allclose(augment_batch(faces, seed(0), config=NOTHING), faces, atol=1e-3)


def test_the_flip_mirrors_about_half_the_faces_exactly(faces):
    out = augment_batch(faces, seed(0), config=AugmentConfig(
        flip=True, rotation=0, zoom=0, shift=0, brightness=0, contrast=0)).numpy()
    mirrored = [np.allclose(o, f[:, ::-1], atol=1e-3) for o, f in zip(out, faces, strict=True)]
    kept = [np.allclose(o, f, atol=1e-3) for o, f in zip(out, faces, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 2 <= sum(mirrored) <= 14


def test_the_same_seed_gives_the_same_images_and_another_seed_others(faces):
    a, b = augment_batch(faces, seed(3)), augment_batch(faces, seed(3))
    np.testing.assert_array_equal(a, b)
    assert np.abs(augment_batch(faces, seed(4)) - a).mean() > 1.0
    assert a.shape == faces.shape and float(tf.reduce_min(a)) >= 0 and float(tf.reduce_max(a)) <= 255


def test_geometry_keeps_a_face_centred_and_light_changes_stay_mild():
    # A bright square in the middle of a dark image stays roughly in the middle.
    image = np.zeros((64, 64, 3), dtype="float32")
    image[24:40, 24:40] = 255
    out = augment_batch(np.repeat(image[None], 32, 0), seed(1), config=AugmentConfig(
        brightness=0, contrast=0)).numpy()
    rows, cols = np.nonzero(out.mean(axis=(0, 3)) > 127)
    assert abs(rows.mean() - 31.5) < 4 and abs(cols.mean() - 31.5) < 4
    lit = augment_batch(np.full((32, 8, 8, 3), 128.0, "float32"), seed(2), config=AugmentConfig(
        flip=False, rotation=0, zoom=0, shift=0)).numpy()
    assert np.abs(lit.mean(axis=(1, 2, 3)) - 128).max() <= 0.15 * 255 + 1e-3


def test_the_dataset_page_examples_are_uint8_variants_of_the_image(faces):
    image = faces[0].astype("uint8")
    examples = augmented_examples(image, n=4, seed=0)
    assert examples.shape == (4, *image.shape) and examples.dtype == np.uint8
    assert len({e.tobytes() for e in examples}) == 4
