"""The persistent image cache: a second pass reads no image file, a changed file
rebuilds, the bound evicts the least recently used, too large for RAM reads from disk
(and says so), and ``cache list|clear``."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from modelkit import labels
from modelkit.__main__ import main
from modelkit.data import decode
from modelkit.data.caches import image_cache
from modelkit.data.caches.image_cache import image_store
from modelkit.data.manifest import build_manifest
from modelkit.pipeline import make_dataset

RACES = list(labels.UTKFACE_RACES)
SIZE = 16
ONE_IMAGE = SIZE * SIZE * 3


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test its own cache dir and the default limits."""
    monkeypatch.setenv("FACESCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(image_cache.RAM_LIMIT_ENV, raising=False)
    monkeypatch.delenv(image_cache.DISK_LIMIT_ENV, raising=False)


def write_faces(folder, n: int, *, seed: int = 0) -> list[str]:
    """``n`` distinct 40 px random-noise JPEGs (ratio-2 decodes at 16 px)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"face_{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def expected_pixels(paths) -> np.ndarray:
    """What the one decoder makes of the files now (independently of any store)."""
    return decode.load_model_inputs(paths, image_size=SIZE).astype(np.uint8)


def scramble_keeping_size_and_mtime(path: str) -> None:
    """Overwrite a file with noise of the same length, then restore its mtime: the
    cache's key is unchanged, but decoding the file now would fail."""
    st = os.stat(path)
    with open(path, "wb") as f:
        f.write(np.random.default_rng(9).integers(0, 256, st.st_size, dtype=np.uint8).tobytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def manifest_of(paths) -> pd.DataFrame:
    n = len(paths)
    return build_manifest(pd.DataFrame({
        "path": paths, "age": np.arange(n, dtype=float) + 20, "gender": "female",
        "race": RACES[0], "split": "train"}), race_classes=RACES)


def pipeline_pixels(manifest, **kwargs) -> np.ndarray:
    ds = make_dataset(manifest, split=None, image_size=SIZE, batch_size=5, race_classes=RACES,
                      training=False, **kwargs)
    return np.concatenate([x for x, _ in ds.as_numpy_iterator()])


# ----------------------------------------------------------------------------- hits

def test_a_second_store_of_the_same_files_decodes_nothing(tmp_path):
    paths = write_faces(tmp_path / "faces", 12)
    want = expected_pixels(paths)
    first = image_store(paths, image_size=SIZE)
    assert first.decoded == 12 and first.where == "memory"
    np.testing.assert_array_equal(first.pixels, want)
    for path in paths:
        scramble_keeping_size_and_mtime(path)
    second = image_store(paths, image_size=SIZE)
    assert second.decoded == 0 and second.entry == first.entry
    np.testing.assert_array_equal(second.pixels, want)  # from the cache: no file was decoded
    assert [e.count for e in image_cache.entries()] == [12]


def test_a_second_pipeline_run_reads_no_jpeg_and_says_where_images_come_from(tmp_path):
    paths = write_faces(tmp_path / "faces", 10)
    manifest = manifest_of(paths)
    lines = []
    fed = pipeline_pixels(manifest, cache=True, report=lines.append)
    np.testing.assert_array_equal(fed, pipeline_pixels(manifest, cache=False))
    assert "decoded 10 images into the image cache" in lines[0] and "held in RAM" in lines[0]
    for path in paths:
        scramble_keeping_size_and_mtime(path)
    with pytest.raises(tf.errors.InvalidArgumentError):
        pipeline_pixels(manifest, cache=False)  # the files really are unreadable now
    np.testing.assert_array_equal(pipeline_pixels(manifest, cache=True, report=lines.append), fed)
    assert "read from the image cache" in lines[1]


def test_another_image_size_is_another_entry(tmp_path):
    paths = write_faces(tmp_path / "faces", 4)
    image_store(paths, image_size=SIZE)
    other = image_store(paths, image_size=8)
    assert other.decoded == 4 and other.pixels.shape == (4, 8, 8, 3)
    assert sorted(e.image_size for e in image_cache.entries()) == [8, SIZE]


# ----------------------------------------------------------------------------- invalidation

@pytest.mark.parametrize("change", ["content", "mtime"])
def test_a_changed_file_rebuilds_the_store_and_drops_the_stale_one(tmp_path, change):
    paths = write_faces(tmp_path / "faces", 6)
    first = image_store(paths, image_size=SIZE)
    st = os.stat(paths[2])
    if change == "content":
        Image.new("RGB", (40, 40), (250, 10, 10)).save(paths[2])
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = image_store(paths, image_size=SIZE)
    assert second.decoded == 6 and second.entry != first.entry
    np.testing.assert_array_equal(second.pixels, expected_pixels(paths))
    if change == "content":
        assert np.abs(second.pixels[2].astype(int) - (250, 10, 10)).max() <= 3  # JPEG
    assert [e.key for e in image_cache.entries()] == [second.entry.name]
    assert not first.entry.exists()


# ----------------------------------------------------------------------------- bounds

def test_eviction_keeps_the_bound_and_the_recently_used(tmp_path):
    paths = write_faces(tmp_path / "faces", 12)
    a, b, c = paths[:4], paths[4:8], paths[8:]
    bound = int(2.5 * 4 * ONE_IMAGE)  # room for two sets of four
    store_a = image_store(a, image_size=SIZE, disk_bytes=bound)
    store_b = image_store(b, image_size=SIZE, disk_bytes=bound)
    assert image_store(a, image_size=SIZE, disk_bytes=bound).decoded == 0  # a used again
    store_c = image_store(c, image_size=SIZE, disk_bytes=bound)
    kept = image_cache.entries()
    assert {e.key for e in kept} == {store_a.entry.name, store_c.entry.name}  # b: least recent
    assert not store_b.entry.exists()
    assert sum(e.bytes for e in kept) <= bound
    assert image_store(b, image_size=SIZE, disk_bytes=bound).decoded == 4


def test_a_set_larger_than_the_disk_bound_is_decoded_but_not_kept(tmp_path):
    paths = write_faces(tmp_path / "faces", 5)
    store = image_store(paths, image_size=SIZE, disk_bytes=4 * ONE_IMAGE)
    assert store.entry is None and store.decoded == 5
    np.testing.assert_array_equal(store.pixels, expected_pixels(paths))
    assert image_cache.entries() == []
    assert "not kept after the run" in store.describe()


def test_over_the_ram_limit_the_store_is_read_from_disk(tmp_path):
    paths = write_faces(tmp_path / "faces", 5)
    small = image_store(paths, image_size=SIZE, ram_bytes=5 * ONE_IMAGE)
    assert small.where == "memory" and not isinstance(small.pixels, np.memmap)
    large = image_store(paths, image_size=SIZE, ram_bytes=5 * ONE_IMAGE - 1)
    assert large.where == "disk" and isinstance(large.pixels, np.memmap)
    assert str(large.entry) in str(large.pixels.filename)
    np.testing.assert_array_equal(large.pixels, small.pixels)
    line = large.describe(limit=5 * ONE_IMAGE - 1)
    assert "exceed the RAM limit of 3.7 KB" in line and "read from disk each epoch" in line
    # Not kept on disk either: an unlinked file, still read through its map.
    unkept = image_store(paths, image_size=SIZE, ram_bytes=0, persistent=False)
    assert unkept.where == "disk" and not os.path.exists(unkept.pixels.filename)
    np.testing.assert_array_equal(unkept.pixels, small.pixels)


def test_the_ram_limit_is_configurable_and_training_logs_the_switch(tmp_path, monkeypatch,
                                                                    capsys):
    from modelkit.config import TrainConfig
    from modelkit.data.manifest import Dataset
    from modelkit.training.prepare import prepare_data

    paths = write_faces(tmp_path / "faces", 12)
    manifest = manifest_of(paths)
    manifest["split"] = pd.Categorical(["train"] * 8 + ["val"] * 2 + ["test"] * 2,
                                       categories=list(labels.SPLITS))
    monkeypatch.setenv(image_cache.RAM_LIMIT_ENV, "1KB")
    assert image_cache.ram_limit() == 1024
    data = prepare_data(TrainConfig(image_size=SIZE, augment=False, batch_size=4),
                        dataset=Dataset(manifest=manifest))
    out = capsys.readouterr().out
    assert "image cache: 8 images at 16 px (6.0 KB) exceed the RAM limit of 1.0 KB" in out
    assert "read from disk each epoch" in out
    images = np.concatenate([x for x, _ in data.val.as_numpy_iterator()])
    np.testing.assert_array_equal(images, expected_pixels(paths[8:10]))


@pytest.mark.parametrize(("text", "expected"), [
    ("123", 123), ("1KB", 1024), ("6GB", 6 * 2**30), ("1.5 g", 3 * 2**29), ("500MiB", 500 * 2**20),
])
def test_limits_take_bytes_or_units(text, expected):
    assert image_cache.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1GB", "5 parsecs", ""])
def test_a_bad_limit_names_the_variable_and_the_form(monkeypatch, text):
    monkeypatch.setenv(image_cache.DISK_LIMIT_ENV, text or " ")
    with pytest.raises(ValueError, match=rf"{image_cache.DISK_LIMIT_ENV} must be a number of "
                                         r"bytes.*e\.g\. 500MB, 6GB"):
        image_cache.disk_limit()


def test_a_missing_file_is_named(tmp_path):
    paths = write_faces(tmp_path / "faces", 2)
    os.remove(paths[1])
    with pytest.raises(FileNotFoundError, match="no image file at .*face_01.jpg; rescan"):
        image_store(paths, image_size=SIZE)


# ----------------------------------------------------------------------------- CLI

def test_cache_list_and_clear(tmp_path, capsys):
    paths = write_faces(tmp_path / "faces", 6)
    first = image_store(paths[:3], image_size=SIZE)
    second = image_store(paths[3:], image_size=8)
    capsys.readouterr()
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "2 entries" in out and first.entry.name in out and second.entry.name in out
    assert str(tmp_path / "faces") in out
    assert main(["cache", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["key"] for e in listed["entries"]] == [first.entry.name, second.entry.name]
    assert listed["bytes"] == 3 * ONE_IMAGE + 3 * 8 * 8 * 3
    assert main(["cache", "clear", first.entry.name[:8]]) == 0
    assert "removed 1 image cache entries" in capsys.readouterr().out
    assert [e.key for e in image_cache.entries()] == [second.entry.name]
    assert main(["cache", "clear", "nosuchkey"]) == 2
    assert "'nosuchkey' names 0 image cache entries" in capsys.readouterr().err
    assert main(["cache", "clear"]) == 0
    assert image_cache.entries() == []
    assert image_store(paths[3:], image_size=8).decoded == 3  # cleared: decoded again
