"""The image scan: bad files are reported with a reason, odd formats end up readable
by TensorFlow, and a second scan comes from the cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from modelkit.data import scan as images
from modelkit.data.decode import decode_file, thumbnail
from modelkit.data.scan import scan_images, to_rgb
from modelkit.paths import cache_dir
from tests.helpers.images import write_image


def _truncated_jpeg(path):
    write_image(path.with_suffix(".full.jpg"), size=32, format="JPEG")
    data = path.with_suffix(".full.jpg").read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_FILES = [  # (name, how to write it, words the reason must hold)
    ("empty.jpg", lambda p: p.write_bytes(b""), "empty file"),
    ("truncated.jpg", _truncated_jpeg, "truncated"),
    ("notes.jpg", lambda p: p.write_text("these are not pixels\n"), "not an image"),
    ("noise.png", lambda p: p.write_bytes(os.urandom(300)), "not an image"),
]


@pytest.mark.parametrize("name, write, reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_reported_and_the_rest_scans(tmp_path, name, write, reason):
    good = write_image(tmp_path / "good.jpg", size=20, format="JPEG")
    bad = tmp_path / name
    write(bad)
    result = scan_images([good, bad])
    assert list(result.table["ok"]) == [True, False]
    assert result.table.loc[0, ["width", "height", "mode"]].tolist() == [20, 20, "RGB"]
    [skipped] = result.skipped
    assert skipped.path == str(bad) and reason in skipped.reason


def test_missing_file_is_reported(tmp_path):
    result = scan_images([tmp_path / "gone.jpg"])
    assert result.skipped[0].reason == "file not found"


# (file name, PIL mode to write, whether TensorFlow reads the original as is)
FORMATS = [
    ("rgb.jpg", "RGB", True),
    ("grey.jpg", "L", True),
    ("cmyk.jpg", "CMYK", True),
    ("rgba.png", "RGBA", True),
    ("palette.png", "P", True),
    ("grey16.png", "I;16", True),
    ("grey_alpha.png", "LA", True),
    ("rgb.tif", "RGB", False),
    ("bilevel.bmp", "1", False),
    ("palette.bmp", "P", False),
]


@pytest.mark.parametrize("name, mode, native", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_usable_format_decodes_in_tensorflow(tmp_path, name, mode, native):
    """The contract: each manifest path reads with tf.io.decode_image(channels=3),
    with the colours PIL sees; formats TF cannot read point at a converted copy, and
    the decoder reads the original exactly as TensorFlow reads that copy."""
    path = write_image(tmp_path / name, size=18, mode=mode)
    row = scan_images([path]).table.iloc[0]
    assert row["ok"] and row["mode"] == mode
    decode_path = row["decode_path"]
    assert (decode_path == str(path)) == native
    if not native:
        assert os.path.dirname(decode_path) == str(cache_dir() / "converted")
    decoded = tf.io.decode_image(tf.io.read_file(decode_path), channels=3,
                                 expand_animations=False).numpy()
    with Image.open(path) as image:
        expected = np.asarray(to_rgb(image))  # PIL's colours, an independent decoder
    assert decoded.shape == expected.shape == (18, 18, 3)
    tolerance = 6 if name.endswith(".jpg") else 1  # JPEG decoders round differently
    assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= tolerance
    np.testing.assert_array_equal(decode_file(path), decoded)


def test_animated_gif_is_converted_to_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((200, 0, 0), (0, 0, 200))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    row = scan_images([tmp_path / "anim.gif"]).table.iloc[0]
    assert row["ok"] and row["decode_path"] != str(tmp_path / "anim.gif")
    assert tuple(decode_file(row["decode_path"])[0, 0]) == (200, 0, 0)
    assert tuple(decode_file(tmp_path / "anim.gif")[0, 0]) == (200, 0, 0)


def test_second_scan_comes_from_the_cache(tmp_path, monkeypatch):
    paths = [write_image(tmp_path / f"{i}.jpg", seed=i, format="JPEG") for i in range(5)]
    paths.append(tmp_path / "empty.jpg")
    paths[-1].write_bytes(b"")
    first = scan_images(paths)

    def must_not_decode(path, st):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(images, "_inspect", must_not_decode)
    second = scan_images(paths)
    assert second.table.equals(first.table)


def test_changed_file_is_scanned_again(tmp_path):
    path = write_image(tmp_path / "a.jpg", size=16, format="JPEG")
    assert scan_images([path]).table.loc[0, "width"] == 16
    write_image(path, size=28, format="JPEG")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert scan_images([path]).table.loc[0, "width"] == 28


def test_deleted_converted_copy_is_rewritten(tmp_path):
    path = write_image(tmp_path / "a.tif", size=16)
    copy = scan_images([path]).table.loc[0, "decode_path"]
    os.remove(copy)
    assert scan_images([path]).table.loc[0, "decode_path"] == copy
    assert os.path.exists(copy)


def test_scan_without_cache_writes_no_cache_file(tmp_path):
    path = write_image(tmp_path / "a.jpg", format="JPEG")
    db = cache_dir() / "scan-v1.sqlite"
    before = db.stat().st_mtime_ns if db.exists() else None
    assert scan_images([path], cache=False).table.loc[0, "ok"]
    assert (db.stat().st_mtime_ns if db.exists() else None) == before


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_every_mode_decodes_to_uint8_rgb(tmp_path, mode):
    path = write_image(tmp_path / "a.png" if mode != "CMYK" else tmp_path / "a.jpg", size=20, mode=mode)
    pixels = decode_file(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (20, 20, 3)
    assert decode_file(path, image_size=8).shape == (8, 8, 3)
    assert thumbnail(path, max_side=12).shape == (12, 12, 3)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16))  # 128 * 257
    assert to_rgb(grey).getpixel((0, 0)) == (128, 128, 128)


def test_broken_cache_file_costs_speed_not_the_scan(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_CACHE_DIR", str(tmp_path / "own-cache"))  # don't break the shared one
    (cache_dir() / "scan-v1.sqlite").write_bytes(b"this is not a database" * 100)
    path = write_image(tmp_path / "a.jpg", format="JPEG")
    with pytest.warns(UserWarning, match="scan cache"):
        assert scan_images([path]).table.loc[0, "ok"]


def test_a_first_scan_reports_its_progress_and_a_cached_one_has_nothing_to_report(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"face_{i}.png")
        Image.new("RGB", (8, 8), (i, 0, 0)).save(paths[-1])
    calls = []
    assert scan_images(paths, progress=lambda done, total: calls.append((done, total))).table["ok"].all()
    assert calls[-1] == (3, 3) and all(total == 3 for _, total in calls)
    calls.clear()
    scan_images(paths, progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # every file came from the scan cache
