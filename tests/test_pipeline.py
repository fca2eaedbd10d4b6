"""The tf.data pipeline: labels encoded from the manifest, the plan's repeats honoured."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels
from modelkit.augment import augment_batch
from modelkit.balance import plan_balance
from modelkit.data.manifest import build_manifest
from modelkit.pipeline import encode_targets, epoch_size, make_dataset, steps_per_epoch

RACES = list(labels.UTKFACE_RACES)


def solid_images(folder, n: int) -> list[str]:
    """``n`` solid-colour 40x40 PNGs whose red value (4*i) identifies image i."""
    paths = []
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        Image.new("RGB", (40, 40), (4 * i, 100, 200)).save(path)
        paths.append(str(path))
    return paths


def identities(images: np.ndarray) -> np.ndarray:
    return np.round(images[:, 0, 0, 0] / 4).astype(int)


@pytest.fixture
def manifest(tmp_path):
    n = 48
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "path": solid_images(tmp_path, n),
        "age": rng.integers(1, 90, n).astype(float),
        "gender": rng.choice(labels.GENDERS, n),
        "race": rng.choice(RACES, n),
        "split": "train",
    })
    return build_manifest(frame, race_classes=RACES)


class FixedPlan:
    """Stands in for a BalancePlan: what the pipeline reads of one, the integer
    ``repeats`` per manifest row."""

    def __init__(self, repeats):
        self.repeats = np.asarray(repeats)


@pytest.mark.parametrize("cache", [False, True])
def test_each_image_appears_as_often_as_the_plan_repeats_it(manifest, cache):
    repeats = np.arange(len(manifest)) % 4  # 0..3, some images dropped
    plan = FixedPlan(repeats)
    ds = make_dataset(manifest, split="train", image_size=16, batch_size=10, race_classes=RACES,
                      training=True, plan=plan, seed=3, cache=cache)
    batches = list(ds.as_numpy_iterator())
    seen = np.bincount(np.concatenate([identities(x) for x, _ in batches]),
                       minlength=len(manifest))
    np.testing.assert_array_equal(seen, repeats)
    assert len(batches) == math.ceil(repeats.sum() / 10) == steps_per_epoch(
        manifest, split="train", batch_size=10, plan=plan)
    assert epoch_size(manifest, split="train", plan=plan) == repeats.sum()
    # Targets travel with their image.
    for x, y in batches:
        rows = manifest.iloc[identities(x)]
        np.testing.assert_array_equal(y["age"], rows["age"].to_numpy(dtype="float32"))


def test_real_balance_plan_drives_the_repeats(manifest):
    plan = plan_balance(manifest, attribute="gender", target="max", max_repeat=3)
    ds = make_dataset(manifest, split="train", image_size=16, batch_size=8, race_classes=RACES,
                      training=True, plan=plan, seed=1)
    seen = np.bincount(np.concatenate([identities(x) for x, _ in ds.as_numpy_iterator()]),
                       minlength=len(manifest))
    np.testing.assert_array_equal(seen, plan.repeats)


def test_evaluation_keeps_manifest_order_and_split(manifest):
    manifest = manifest.copy()
    manifest["split"] = pd.Categorical(np.where(np.arange(len(manifest)) % 3 == 0, "val", "train"),
                                       categories=list(labels.SPLITS))
    ds = make_dataset(manifest, split="val", image_size=16, batch_size=7, race_classes=RACES,
                      training=False)
    images = np.concatenate([x for x, _ in ds.as_numpy_iterator()])
    np.testing.assert_array_equal(identities(images), np.arange(0, len(manifest), 3))
    assert images.dtype == np.float32 and images.shape[1:] == (16, 16, 3)
    assert images.min() >= 0 and images.max() <= 255


def test_nulls_encode_as_minus_one(manifest):
    manifest = manifest.copy()
    manifest.loc[0, "gender"] = None
    manifest.loc[1, "race"] = None
    manifest.loc[2, ["age", "age_group"]] = [np.nan, None]
    targets = encode_targets(manifest, race_classes=RACES)
    assert targets["gender"][0] == -1 and targets["race"][1] == -1
    assert targets["age"][2] == -1 and targets["age_group"][2] == -1
    assert targets["gender"][1] == labels.GENDERS.index(manifest.loc[1, "gender"])
    assert targets["race"][0] == RACES.index(manifest.loc[0, "race"])


def test_without_a_plan_every_image_appears_once_and_the_length_is_known(manifest):
    ds = make_dataset(manifest, split="train", image_size=16, batch_size=10, race_classes=RACES,
                      training=True, seed=0)
    assert int(ds.cardinality()) == math.ceil(len(manifest) / 10)
    seen = np.concatenate([identities(x) for x, _ in ds.as_numpy_iterator()])
    assert sorted(seen) == list(range(len(manifest)))


@pytest.fixture
def textured(tmp_path):
    """24 random-noise 24px images (a flip or a shift changes them, unlike a solid
    colour), each with its own labels."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(24):
        paths.append(str(tmp_path / f"noise_{i:02d}.png"))
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(paths[-1])
    frame = pd.DataFrame({"path": paths, "age": rng.integers(1, 90, 24).astype(float),
                          "gender": rng.choice(labels.GENDERS, 24), "race": rng.choice(RACES, 24),
                          "split": "train"})
    return build_manifest(frame, race_classes=RACES)


def two_epochs(manifest, augment, *, seed=0):
    """Two epochs of the training pipeline (cached, so the order is fixed by the seed)."""
    ds = make_dataset(manifest, split="train", image_size=16, batch_size=8, race_classes=RACES,
                      training=True, augment=augment, seed=seed, cache=True)
    epochs = [list(ds.as_numpy_iterator()) for _ in range(2)]
    images = [np.concatenate([x for x, _ in batches]) for batches in epochs]
    targets = [{k: np.concatenate([y[k] for _, y in batches]) for k in batches[0][1]}
               for batches in epochs]
    return images, targets


def test_the_augmenter_changes_images_reproducibly_and_leaves_labels_alone(textured):
    plain, plain_targets = two_epochs(textured, None)
    augmented, targets = two_epochs(textured, augment_batch)
    again, _ = two_epochs(textured, augment_batch)
    other_plain, _ = two_epochs(textured, None, seed=1)  # seed 1 also shuffles otherwise
    other, _ = two_epochs(textured, augment_batch, seed=1)
    first = {plain[0][j].tobytes(): j for j in range(len(plain[0]))}
    for epoch in range(2):
        # Images change: nearly every one differs from its plain copy.
        change = np.abs(augmented[epoch] - plain[epoch]).mean(axis=(1, 2, 3))
        assert (change > 1.0).mean() >= 0.9, change
        # The same seed gives the same images; another seed other images.
        np.testing.assert_allclose(again[epoch], augmented[epoch], atol=1e-4)
        in_seed_0 = [first[image.tobytes()] for image in other_plain[epoch]]
        assert np.abs(other[epoch] - augmented[epoch][in_seed_0]).mean() > 1.0
        # Labels travel untouched, in the same order as without augmentation.
        for head, values in plain_targets[epoch].items():
            np.testing.assert_array_equal(targets[epoch][head], values, err_msg=head)
        assert augmented[epoch].shape == plain[epoch].shape
        assert augmented[epoch].min() >= -1e-3 and augmented[epoch].max() <= 255 + 1e-3
    # A repeated image is a new sample: each image's second-epoch copy differs from its first.
    same_image = [first[image.tobytes()] for image in plain[1]]
    change = np.abs(augmented[1] - augmented[0][same_image]).mean(axis=(1, 2, 3))
    assert (change > 1.0).mean() >= 0.9, change


def test_a_plan_for_another_manifest_is_refused(manifest):
    with pytest.raises(ValueError, match="balance plan has 3 rows"):
        make_dataset(manifest, split="train", image_size=16, batch_size=4, race_classes=RACES,
                     training=True, plan=FixedPlan([1, 1, 1]))
