"""What the file caches under ``cache_dir()`` share: atomic PNG writes and a guard
that turns a broken SQLite index into a warning (a cache costs speed, never a result)."""

from __future__ import annotations

import os
import sqlite3
import threading
import warnings
from pathlib import Path

from PIL import Image


def write_png_atomic(folder: Path, key: str, image: Image.Image) -> str:
    """``folder/<key>.png``, written once: a temp file renamed into place, so a reader
    (another process or thread) never sees half an image. Returns the path."""
    target = folder / f"{key}.png"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp.png"
        image.save(tmp, format="PNG")
        os.replace(tmp, target)
    return str(target)


def guarded(function, *args, default, what: str, index: Path, doing: str):
    """Run a cache-index operation; on an SQLite error warn, naming the file, and
    return ``default`` so the caller goes on ``doing`` its work without the cache."""
    try:
        return function(*args)
    except sqlite3.Error as err:
        warnings.warn(f"{what} cache {index} unusable ({err}); {doing} without it "
                      "(delete the file to rebuild it)", stacklevel=3)
        return default
