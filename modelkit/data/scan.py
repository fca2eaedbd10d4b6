"""The image scan: decode every image once, say which are usable and why not.

Training decodes with ``tf.io.decode_image(channels=3)``, which reads JPEG (RGB, grey
and CMYK alike), PNG (any bit depth, palette, alpha), single-frame GIF and WebP, and
24/32-bit BMP. Anything else PIL can read (TIFF, 1-bit or palette BMP, animated GIF,
...) is converted once into an RGB PNG under ``cache_dir()/converted/`` and the
manifest points at that copy, so every manifest path is readable by TensorFlow and
no image is lost for being in an odd format. Files that cannot be decoded at all
(empty, truncated, not an image) are reported with a reason instead, and so is a file
whose header declares more than ``modelkit.config.MAX_PIXELS`` pixels: it is refused
before its pixels are decoded (a decompression bomb never fills the memory). The decoder
itself is ``modelkit.data.decode``, which applies these same rules (``tf_can_decode``,
``to_rgb``) to a file or upload it reads directly.

Results are cached in ``cache_dir()/scan-v1.sqlite`` keyed by (absolute path, size,
mtime_ns): a second scan of an unchanged folder only ``stat``s the files.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from modelkit.config import MAX_PIXELS
from modelkit.data.cache_files import guarded, write_png_atomic
from modelkit.data.manifest import Skipped
from modelkit.paths import cache_dir

SCAN_COLUMNS = ("path", "ok", "reason", "width", "height", "mode", "format", "decode_path")
_DB_NAME = "scan-v1.sqlite"
_SQL_CHUNK = 500  # SQLite caps bound parameters per statement; look paths up in chunks.
# Called with (done, in all) as a long job goes: the scan, the face crops, predictions.
Progress = Callable[[int, int], None]


@dataclass
class ScanResult:
    """One row per scanned path (in the order given): ``path`` (absolute), ``ok``,
    ``reason`` (why not usable, else None), ``width``, ``height``, ``mode`` and
    ``format`` as PIL reports them, and ``decode_path`` (the file TensorFlow should
    read: the path itself, or its converted RGB copy; None when not usable)."""

    table: pd.DataFrame

    @property
    def usable(self) -> pd.DataFrame:
        return self.table[self.table["ok"]]

    @property
    def skipped(self) -> list[Skipped]:
        bad = self.table[~self.table["ok"]]
        return [Skipped(p, r) for p, r in zip(bad["path"], bad["reason"], strict=True)]

    @property
    def n_converted(self) -> int:
        usable = self.usable
        return int((usable["decode_path"] != usable["path"]).sum())


def scan_images(paths: Iterable[str | os.PathLike], *, cache: bool = True,
                workers: int | None = None, progress: Progress | None = None) -> ScanResult:
    """Decode each image fully once (``Image.load()`` catches truncated files).

    Args:
        paths: image files; relative paths are taken from the current directory.
        cache: reuse and store results in the scan cache (keyed by path, size, mtime).
        workers: decoding threads for the images not in the cache (PIL releases the
            GIL while decoding); default ``min(8, cpu_count)``.
        progress: called with (images decoded, images to decode) about every 1 % of
            the images not in the cache, and once at the end (a first read of a
            460,000-image set decodes for minutes).

    Returns:
        A ``ScanResult``; a missing file is a row with ``ok=False`` and a reason,
        never an exception.
    """
    abs_paths = [os.path.abspath(os.fspath(p)) for p in paths]
    stats = [_stat(p) for p in abs_paths]
    rows: dict[int, dict] = {}
    todo: list[int] = []
    cached = _guarded(_cache_lookup, abs_paths, stats, default={}) if cache else {}
    for i, (path, st) in enumerate(zip(abs_paths, stats, strict=True)):
        if st is None:
            rows[i] = _row(path, reason="file not found")
        elif i in cached:
            rows[i] = _over_pixel_limit(cached[i]) or cached[i]
        else:
            todo.append(i)
    if todo:
        n_workers = workers or min(8, os.cpu_count() or 1)
        every = max(len(todo) // 100, 500)
        fresh = []
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for row in pool.map(lambda i: _inspect(abs_paths[i], stats[i]), todo, chunksize=32):
                fresh.append(row)
                if progress is not None and (len(fresh) % every == 0 or len(fresh) == len(todo)):
                    progress(len(fresh), len(todo))
        rows.update(zip(todo, fresh, strict=True))
        if cache:
            _guarded(_cache_store, [(abs_paths[i], stats[i], rows[i]) for i in todo], default=None)
    table = pd.DataFrame([rows[i] for i in range(len(abs_paths))], columns=list(SCAN_COLUMNS))
    table["ok"] = table["ok"].astype(bool)
    return ScanResult(table)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB.

    PIL's own ``convert`` clips 16/32-bit values to 255 instead of scaling them, so
    high-bit-depth greys are scaled here first.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def tf_can_decode(*, image_format: str | None, mode: str, n_frames: int = 1) -> bool:
    """Whether ``tf.io.decode_image(channels=3)`` reads this file correctly as is
    (checked on TF 2.21, see tests/test_images.py)."""
    if image_format in ("JPEG", "MPO"):
        return mode in ("L", "RGB", "CMYK")
    if image_format == "PNG":
        return True
    if image_format in ("GIF", "WEBP"):
        return n_frames == 1
    if image_format == "BMP":
        return mode in ("RGB", "RGBA")
    return False


def _stat(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None  # one stat a file, not isfile's second


def _row(path: str, *, reason: str | None = None, width=None, height=None, mode=None,
         format=None, decode_path=None) -> dict:
    return {"path": path, "ok": reason is None, "reason": reason, "width": width,
            "height": height, "mode": mode, "format": format, "decode_path": decode_path}


def pixel_limit_reason(width: int, height: int) -> str:
    """Why a file declaring ``width`` x ``height`` pixels is refused (over ``MAX_PIXELS``)."""
    return (f"{width}x{height} pixels is over the limit of {MAX_PIXELS:,} pixels "
            f"(modelkit.config.MAX_PIXELS); refused before decoding as a possible "
            "decompression bomb")


def _over_pixel_limit(row: dict) -> dict | None:
    """A cached row scanned before the pixel limit, refused as a fresh scan would."""
    if row["ok"] and (row["width"] or 0) * (row["height"] or 0) > MAX_PIXELS:
        return _row(row["path"], reason=pixel_limit_reason(row["width"], row["height"]))
    return None


def _inspect(path: str, st: os.stat_result) -> dict:
    """Decode one file and describe it; convert it when TensorFlow could not read it."""
    if st.st_size == 0:
        return _row(path, reason="empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            fmt, mode, (width, height) = image.format, image.mode, image.size
            n_frames = getattr(image, "n_frames", 1)
            if width * height > MAX_PIXELS:  # the header's size, before any decoding
                return _row(path, reason=pixel_limit_reason(width, height))
            image.load()
            decode_path = path
            if not tf_can_decode(image_format=fmt, mode=mode, n_frames=n_frames):
                decode_path = _write_converted(path, st, image)
    except UnidentifiedImageError:
        return _row(path, reason="not an image (no image format recognised)")
    except Image.DecompressionBombError as err:
        return _row(path, reason=f"image too large to decode safely: {err}")
    except OSError as err:
        text = str(err)
        if "truncated" in text.lower() or "broken data stream" in text:
            return _row(path, reason=f"truncated image ({text})")
        return _row(path, reason=f"unreadable image ({text})")
    except (SyntaxError, ValueError, EOFError) as err:  # PIL's plugins raise these on corrupt headers
        return _row(path, reason=f"corrupt image ({type(err).__name__}: {err})")
    return _row(path, width=width, height=height, mode=mode, format=fmt, decode_path=decode_path)


def _write_converted(path: str, st: os.stat_result, image: Image.Image) -> str:
    """Write an RGB PNG copy of ``image`` into the cache (atomically) and return its path."""
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
    folder = cache_dir() / "converted"
    if (folder / f"{key}.png").exists():
        return str(folder / f"{key}.png")
    return write_png_atomic(folder, key, to_rgb(image))


def _guarded(function, *args, default):
    """Run a cache operation; a broken or locked cache costs speed, never the scan."""
    return guarded(function, *args, default=default, what="scan", index=cache_dir() / _DB_NAME,
                   doing="scanning")


def _connect() -> sqlite3.Connection:
    con = sqlite3.connect(cache_dir() / _DB_NAME, timeout=30)
    con.execute(
        "CREATE TABLE IF NOT EXISTS scans (path TEXT PRIMARY KEY, size INTEGER, "
        "mtime_ns INTEGER, ok INTEGER, reason TEXT, width INTEGER, height INTEGER, "
        "mode TEXT, format TEXT, decode_path TEXT)"
    )
    return con


def _cache_lookup(paths: list[str], stats: list) -> dict[int, dict]:
    """Cached rows whose file is unchanged (same size and mtime), by position."""
    wanted = {p: i for i, (p, st) in enumerate(zip(paths, stats, strict=True)) if st is not None}
    if not wanted:
        return {}
    found: dict[int, dict] = {}
    names = list(wanted)
    con = _connect()
    try:
        for start in range(0, len(names), _SQL_CHUNK):
            chunk = names[start:start + _SQL_CHUNK]
            query = f"SELECT * FROM scans WHERE path IN ({','.join('?' * len(chunk))})"
            for path, size, mtime_ns, ok, reason, w, h, mode, fmt, decode in con.execute(query, chunk):
                i = wanted[path]
                st = stats[i]
                if size != st.st_size or mtime_ns != st.st_mtime_ns:
                    continue
                if ok and decode != path and not os.path.exists(decode):
                    continue  # the converted copy was cleaned away: rescan to rewrite it
                found[i] = _row(path, reason=None if ok else reason, width=w, height=h,
                                mode=mode, format=fmt, decode_path=decode)
    finally:
        con.close()
    return found


def _cache_store(entries: list[tuple[str, os.stat_result, dict]]) -> None:
    records = [
        (path, st.st_size, st.st_mtime_ns, int(row["ok"]), row["reason"], row["width"],
         row["height"], row["mode"], row["format"], row["decode_path"])
        for path, st, row in entries
    ]
    con = _connect()
    try:
        with con:
            con.executemany("INSERT OR REPLACE INTO scans VALUES (?,?,?,?,?,?,?,?,?,?)", records)
    finally:
        con.close()
