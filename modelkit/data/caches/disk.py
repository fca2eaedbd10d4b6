"""The persistent image cache's folder: its entries, its limits, eviction and clearing.

``<cache dir>/images/<key>/`` holds one store (``modelkit.data.caches.image_cache``):
``pixels.npy`` (N, S, S, 3) uint8 and ``entry.json`` (written last; its mtime is the
entry's last use). Folders named ``.building-*`` are stores being written. The layout
is in docs/CONTRACTS.md ("Image cache"); ``python -m modelkit cache list|clear`` reads
and clears it through this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelkit import paths as paths_lib

CACHE_SUBDIR = "images"
PIXELS_FILE = "pixels.npy"
ENTRY_FILE = "entry.json"
BUILDING_PREFIX = ".building-"
RAM_LIMIT_ENV = "FACESCOPE_RAM_CACHE_LIMIT"
DISK_LIMIT_ENV = "FACESCOPE_IMAGE_CACHE_LIMIT"
DEFAULT_DISK_LIMIT = 20 * 2**30
_UNITS = {"": 1, "b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40,
          "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "kib": 2**10, "mib": 2**20,
          "gib": 2**30, "tib": 2**40}


def cache_root() -> Path:
    """Where the persistent stores live: ``<cache dir>/images``."""
    root = paths_lib.cache_dir() / CACHE_SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    return root


# ----------------------------------------------------------------------------- limits

def parse_bytes(value: str | int, *, name: str = "size") -> int:
    """``"6GB"``, ``"500 MB"``, ``"1.5g"`` or ``12345`` -> bytes (binary units)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"{name} must be a number of bytes, optionally with a unit "
                         f"(e.g. 500MB, 6GB); got {value!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def ram_limit() -> int:
    """Bytes a store may take in memory: ``$FACESCOPE_RAM_CACHE_LIMIT``, else a quarter
    of the machine's physical memory."""
    configured = os.environ.get(RAM_LIMIT_ENV)
    if configured:
        return parse_bytes(configured, name=RAM_LIMIT_ENV)
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4


def disk_limit() -> int:
    """Bytes all persistent stores may take: ``$FACESCOPE_IMAGE_CACHE_LIMIT``, else 20 GiB."""
    configured = os.environ.get(DISK_LIMIT_ENV)
    return parse_bytes(configured, name=DISK_LIMIT_ENV) if configured else DEFAULT_DISK_LIMIT


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# ----------------------------------------------------------------------------- housekeeping

@dataclass(frozen=True)
class Entry:
    """One persistent store, as ``cache list`` shows it."""

    key: str
    path: Path
    image_size: int
    count: int
    bytes: int
    folder: str
    last_used: float
    paths_key: str


def entries() -> list[Entry]:
    """The complete persistent stores, least recently used first."""
    found = []
    for folder in cache_root().iterdir():
        meta_file = folder / ENTRY_FILE
        try:
            meta = json.loads(meta_file.read_text())
            found.append(Entry(key=folder.name, path=folder, image_size=int(meta["image_size"]),
                               count=int(meta["count"]), bytes=int(meta["bytes"]),
                               folder=str(meta.get("folder", "")),
                               last_used=meta_file.stat().st_mtime,
                               paths_key=str(meta.get("paths_key", ""))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder being built, or not a store
    return sorted(found, key=lambda e: e.last_used)


def remove_stale(*, listing: str, keep: str) -> list[Entry]:
    """Delete the stores of the same files at the same size made before a file changed."""
    stale = [e for e in entries() if e.paths_key == listing and e.key != keep]
    for entry in stale:
        shutil.rmtree(entry.path, ignore_errors=True)
    return stale


def evict(*, limit: int, keep: str | None = None) -> list[Entry]:
    """Delete least recently used stores until all of them fit ``limit`` bytes (never
    ``keep``, the one in use). A process still reading a deleted store keeps its map."""
    current = entries()
    total = sum(e.bytes for e in current)
    removed = []
    for entry in current:
        if total <= limit:
            break
        if entry.key == keep:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        total -= entry.bytes
        removed.append(entry)
    return removed


def clear(keys: Sequence[str] = ()) -> list[Entry]:
    """Delete the stores named by ``keys`` (a key or its unique prefix), or all of them
    (and leftovers of interrupted builds) when none are named.

    Raises:
        ValueError: a key that names no store, or several.
    """
    current = entries()
    if not keys:
        for leftover in cache_root().iterdir():
            if leftover.is_dir() and leftover.name.startswith(BUILDING_PREFIX):
                shutil.rmtree(leftover, ignore_errors=True)
        chosen = current
    else:
        chosen = []
        for key in keys:
            matches = [e for e in current if e.key.startswith(key)]
            if len(matches) != 1:
                raise ValueError(f"{key!r} names {len(matches)} image cache entries; "
                                 "run `python -m modelkit cache list` for their keys")
            chosen.append(matches[0])
    for entry in chosen:
        shutil.rmtree(entry.path, ignore_errors=True)
    return chosen
