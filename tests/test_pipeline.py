"""The tf.data pipeline: labels encoded from the manifest, the plan's repeats honoured."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels
from modelkit.data.manifest import build_manifest
from modelkit.pipeline import encode_targets, make_dataset, steps_per_epoch

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
    """Stands in for a BalancePlan: the given integer repeats per row."""

    def __init__(self, repeats):
        self._repeats = np.asarray(repeats)

    def repeats(self, seed):
        return self._repeats


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
        manifest, split="train", batch_size=10, plan=plan, seed=3)
    # Targets travel with their image.
    for x, y in batches:
        rows = manifest.iloc[identities(x)]
        np.testing.assert_array_equal(y["age"], rows["age"].to_numpy(dtype="float32"))


def test_real_balance_plan_drives_the_repeats(manifest):
    balance = pytest.importorskip("modelkit.balance")
    plan = balance.plan_balance(manifest, attribute="gender", target="max", max_repeat=3)
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
    assert 0 <= images.min() and images.max() <= 255


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


def test_augmenter_runs_on_batches_and_keeps_the_range(manifest):
    augment = pytest.importorskip("modelkit.augment").build_augmenter(seed=0)
    ds = make_dataset(manifest, split="train", image_size=16, batch_size=16, race_classes=RACES,
                      training=True, augment=augment, seed=0)
    x, _ = next(iter(ds))
    assert x.shape == (16, 16, 16, 3)
    assert float(np.min(x)) >= -1e-3 and float(np.max(x)) <= 255 + 1e-3


def test_a_plan_for_another_manifest_is_refused(manifest):
    with pytest.raises(ValueError, match="balance plan has 3 rows"):
        make_dataset(manifest, split="train", image_size=16, batch_size=4, race_classes=RACES,
                     training=True, plan=FixedPlan([1, 1, 1]))
