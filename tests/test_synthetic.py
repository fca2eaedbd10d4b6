"""The synthetic default set: deterministic, cached atomically, imbalanced like the
real sets, and drawn so the labels show in the pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels
from modelkit.data import load_dataset, synthetic_root
from modelkit.data.synthetic.drawing import draw_face
from modelkit.data.synthetic.generate import default_n, generate_synthetic, sample_labels
from modelkit.paths import cache_dir
from tests.helpers.datasets import make_tiny_synthetic


def _pixels(root, rel):
    with Image.open(root / rel) as image:
        return np.asarray(image.convert("RGB"))


def test_same_seed_gives_same_labels_and_pixels(tmp_path):
    a = generate_synthetic(tmp_path / "a", n=12, seed=7, size_range=(24, 32))
    b = generate_synthetic(tmp_path / "b", n=12, seed=7, size_range=(24, 32))
    labels_a, labels_b = pd.read_csv(a / "labels.csv"), pd.read_csv(b / "labels.csv")
    pd.testing.assert_frame_equal(labels_a, labels_b)
    for rel in labels_a["path"]:
        np.testing.assert_array_equal(_pixels(a, rel), _pixels(b, rel))


def test_another_seed_gives_another_set(tmp_path):
    a = generate_synthetic(tmp_path / "a", n=12, seed=1, size_range=(24, 32))
    b = generate_synthetic(tmp_path / "b", n=12, seed=2, size_range=(24, 32))
    assert not pd.read_csv(a / "labels.csv").equals(pd.read_csv(b / "labels.csv"))


def test_images_have_the_requested_sizes(tmp_path):
    root = generate_synthetic(tmp_path / "s", n=20, seed=0, size_range=(20, 26))
    sides = set()
    for rel in pd.read_csv(root / "labels.csv")["path"]:
        height, width, channels = _pixels(root, rel).shape
        assert height == width and 20 <= width <= 26 and channels == 3
        sides.add(width)
    assert len(sides) > 1  # random sizes, not one


def test_age_distribution_is_imbalanced_like_utkface():
    table = sample_labels(n=10_000, seed=0)
    assert table["age"].between(1, 100).all()
    share = pd.Series(labels.age_to_group(table["age"])).value_counts(normalize=True)
    assert share["20-29"] + share["30-39"] > 0.45
    assert share["0-2"] < 0.05 and share["70+"] < 0.06
    assert share.min() > 0.01  # every group still present
    assert set(table["gender"]) == set(labels.GENDERS)
    assert set(table["race"]) == set(labels.SYNTHETIC_RACES)


@pytest.mark.parametrize("changed", [
    {"race": "Black"}, {"gender": "female"}, {"age": 78},
])
def test_each_label_changes_the_drawing(changed):
    """Same random draws, one label changed: the face must look different."""
    base = {"age": 30, "gender": "male", "race": "White", "size": 64}
    for seed in range(5):
        before = np.asarray(draw_face(np.random.default_rng(seed), **base), dtype=float)
        after = np.asarray(draw_face(np.random.default_rng(seed), **{**base, **changed}), dtype=float)
        assert np.abs(before - after).mean() > 2.0


def test_skin_tone_follows_race():
    """With pose, lighting and background held equal, a 'White' face is brighter
    than a 'Black' one: the race signal a model can learn."""
    for seed in range(10):
        kwargs = {"age": 30, "gender": "female", "size": 64}
        white = np.asarray(draw_face(np.random.default_rng(seed), race="White", **kwargs), float)
        black = np.asarray(draw_face(np.random.default_rng(seed), race="Black", **kwargs), float)
        assert white.mean() > black.mean() + 5


def test_synthetic_root_generates_once_and_reuses(monkeypatch):
    first = synthetic_root(n=15, seed=3)
    assert first == cache_dir() / "synthetic-15-3"
    assert len(pd.read_csv(first / "labels.csv")) == 15
    stamp = (first / "labels.csv").stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a cached set")

    monkeypatch.setattr("modelkit.data.synthetic.generate.generate_synthetic", must_not_run)
    assert synthetic_root(n=15, seed=3) == first
    assert (first / "labels.csv").stat().st_mtime_ns == stamp


def test_killed_generation_leaves_no_half_set(monkeypatch):
    def dies_midway(out_dir, *, n, seed):
        generate_synthetic(out_dir, n=3, seed=seed, size_range=(16, 16))
        raise KeyboardInterrupt  # as if the process were stopped

    monkeypatch.setattr("modelkit.data.synthetic.generate.generate_synthetic", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        synthetic_root(n=16, seed=5)
    assert not (cache_dir() / "synthetic-16-5").exists()
    assert not list(cache_dir().glob(".synthetic-16-5-*"))


def test_default_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "25")
    assert default_n() == 25
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "lots")
    with pytest.raises(ValueError, match="FACESCOPE_SYNTHETIC_N"):
        default_n()
    monkeypatch.delenv("FACESCOPE_SYNTHETIC_N")
    assert default_n() == 10_000


def test_load_default_synthetic_set(monkeypatch):
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "30")
    ds = load_dataset("synthetic")
    assert len(ds.manifest) == 30 and not ds.skipped
    assert ds.race_classes == list(labels.SYNTHETIC_RACES)
    assert ds.manifest["split"].notna().all()
    assert ds.root == str(cache_dir() / "synthetic-30-0")


def test_load_a_generated_folder(tiny_synthetic_root):
    ds = load_dataset("synthetic", root=tiny_synthetic_root)
    written = pd.read_csv(tiny_synthetic_root / "labels.csv")
    assert len(ds.manifest) == len(written)
    np.testing.assert_array_equal(ds.manifest["age"].to_numpy(), written["age"].to_numpy(float))
    assert list(ds.manifest["gender"].astype(str)) == list(written["gender"])
    assert ds.race_classes == list(labels.SYNTHETIC_RACES)  # all five, even if one were absent


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0, "seed": 0}, "n must be at least 1"),
    ({"n": 3, "seed": 0, "size_range": (64, 32)}, "size_range"),
])
def test_generate_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_synthetic(tmp_path, **kwargs)


def test_tiny_helper_is_fast_and_loadable(tmp_path):
    root = make_tiny_synthetic(tmp_path, n=8)
    assert len(load_dataset("synthetic", root=root).manifest) == 8
