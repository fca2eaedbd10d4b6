"""The image store: every image of a manifest decoded once, at the model's size, as uint8.

Training reads its epochs from here instead of decoding JPEGs again. A store is an
(N, S, S, 3) uint8 array, one row per manifest row, built by the one decoder
(``modelkit.data.decode.read_image_tf``), so its pixels are the pipeline's.

**Persistent.** A store is kept on disk under ``<cache dir>/images/<key>/`` (the cache
dir is ``modelkit.paths.cache_dir()``), keyed by the files (absolute path, size and
mtime of each, in order), the image size and :data:`DECODER_VERSION`. A second run on
the same files at the same size reads it and decodes nothing. A file that changes
(size or mtime) changes the key: the store is rebuilt and the stale one deleted. The
stores together stay under a size bound (least recently used evicted first).
``python -m modelkit cache list|clear`` shows and removes them. The layout is in
docs/CONTRACTS.md ("Image cache").

**RAM or disk.** A store up to the RAM limit is copied into memory; a larger one
(FairFace at 224 px: ~15 GB) is read from its file on disk through a memory map, and
:meth:`ImageStore.describe` says so (training prints it into train.log).

Limits, as bytes or with a unit (``500MB``, ``6GB``):

- ``$FACESCOPE_RAM_CACHE_LIMIT``: default a quarter of the machine's memory (6 GiB
  on a 24 GiB machine);
- ``$FACESCOPE_IMAGE_CACHE_LIMIT``: the disk bound, default 20 GiB. A store larger
  than it is still built on disk for the run, then dropped.

Example::

    store = image_store(manifest["path"], image_size=64)
    store.pixels.shape          # (N, 64, 64, 3) uint8, row i = manifest row i
    store.decoded               # 0 when it came from the persistent cache
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelkit.data.caches.disk import (
    BUILDING_PREFIX,
    DISK_LIMIT_ENV,
    ENTRY_FILE,
    PIXELS_FILE,
    RAM_LIMIT_ENV,
    Entry,
    cache_root,
    clear,
    disk_limit,
    entries,
    evict,
    human_bytes,
    parse_bytes,
    ram_limit,
    remove_stale,
)

__all__ = ["DISK_LIMIT_ENV", "RAM_LIMIT_ENV", "Entry", "ImageStore", "cache_root", "clear",
           "decode_into", "disk_limit", "entries", "evict", "human_bytes", "image_store",
           "parse_bytes", "ram_limit", "store_keys"]

ENTRY_FORMAT = 1
# Bump when the decoder's pixels change (a new resize, the JPEG ratio rule...): older
# stores then miss and are rebuilt.
DECODER_VERSION = 3
DECODE_BATCH = 256


# ----------------------------------------------------------------------------- the store

@dataclass(frozen=True)
class ImageStore:
    """Decoded images, row i = file i: ``pixels`` (N, S, S, 3) uint8, in memory
    (``where == "memory"``) or a read-only memory map of a file (``"disk"``).
    ``entry`` is the persistent cache folder it lives in (None: not kept after the
    run), ``decoded`` how many files were decoded to build it (0: a cache hit)."""

    pixels: np.ndarray
    image_size: int
    where: str
    entry: Path | None
    decoded: int

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)

    def describe(self, *, limit: int | None = None) -> str:
        """One line for the run log: where the images come from and where they live."""
        n, size = len(self.pixels), human_bytes(self.nbytes)
        source = (f"read from the image cache {self.entry}" if self.decoded == 0 and self.entry
                  else f"decoded {self.decoded:,} images"
                  + (f" into the image cache {self.entry}" if self.entry else
                     " (not kept after the run: over the image cache's bound, or not persistent)"))
        if self.where == "memory":
            return f"image cache: {n:,} images at {self.image_size} px ({size}), {source}, held in RAM"
        return (f"image cache: {n:,} images at {self.image_size} px ({size}) exceed the RAM "
                f"limit of {human_bytes(limit if limit is not None else ram_limit())} "
                f"(${RAM_LIMIT_ENV}): {source}, read from disk each epoch")


def store_keys(paths: Sequence[str], *, image_size: int) -> tuple[str, str]:
    """(key of these files as they are now, key of their paths alone) at ``image_size``.
    The first changes when any file's size or mtime does; the second finds the stale
    stores of the same files."""
    import hashlib

    stats = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"no image file at {path}; rescan the dataset") from None
        stats.append(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\n")
    suffix = f"|{image_size}|v{DECODER_VERSION}"
    files = hashlib.sha1(("".join(stats) + suffix).encode()).hexdigest()[:24]
    listing = hashlib.sha1(("".join(f"{p}\n" for p in paths) + suffix).encode()).hexdigest()[:24]
    return files, listing


def image_store(paths: Sequence[str | os.PathLike], *, image_size: int, persistent: bool = True,
                ram_bytes: int | None = None, disk_bytes: int | None = None) -> ImageStore:
    """The decoded (N, S, S, 3) uint8 images of ``paths``, from the persistent cache
    when it holds them unchanged, else decoded now (in parallel) and kept there.

    Args:
        paths: image files, in the order of the rows wanted.
        image_size: the side S.
        persistent: use and fill the on-disk cache; False decodes into memory (or a
            temporary file when over the RAM limit) for this process only.
        ram_bytes / disk_bytes: the limits; default :func:`ram_limit` / :func:`disk_limit`.

    Raises:
        FileNotFoundError: a file is missing (names it).
    """
    files = [os.path.abspath(os.fspath(p)) for p in paths]
    ram_bytes = ram_limit() if ram_bytes is None else ram_bytes
    disk_bytes = disk_limit() if disk_bytes is None else disk_bytes
    nbytes = len(files) * image_size * image_size * 3
    in_memory = nbytes <= ram_bytes
    where = "memory" if in_memory else "disk"
    key, listing = store_keys(files, image_size=image_size)  # FileNotFoundError names a file
    if not persistent or nbytes > disk_bytes or not files:
        return _unkept_store(files, image_size=image_size, in_memory=in_memory, where=where)
    root = cache_root()
    entry = root / key
    shape = (len(files), image_size, image_size, 3)
    pixels = _open_entry(entry, shape=shape, in_memory=in_memory)
    decoded = 0
    if pixels is None:
        shutil.rmtree(entry, ignore_errors=True)  # a damaged entry, if any
        entry, pixels = _build_entry(files, image_size=image_size, root=root, key=key,
                                     listing=listing, in_memory=in_memory)
        if pixels is None:
            pixels = _open_entry(entry, shape=shape, in_memory=False)
        decoded = len(files)
        remove_stale(listing=listing, keep=key)
        evict(limit=disk_bytes, keep=key)
    return ImageStore(pixels=pixels, image_size=image_size, where=where, entry=entry,
                      decoded=decoded)


def _open_entry(entry: Path, *, shape: tuple[int, ...], in_memory: bool) -> np.ndarray | None:
    """The pixels of a complete entry, read into memory or memory-mapped read-only,
    marking it used; None when it is missing, unreadable or not ``shape`` (then it is
    rebuilt)."""
    if not (entry / ENTRY_FILE).is_file():
        return None
    try:
        pixels = np.load(entry / PIXELS_FILE, mmap_mode=None if in_memory else "r")
        _mark_used(entry)
    except (OSError, ValueError):
        return None
    return pixels if pixels.shape == shape and pixels.dtype == np.uint8 else None


def _mark_used(entry: Path) -> None:
    """The entry file's mtime is the entry's last use (for LRU eviction)."""
    now = time.time_ns()
    os.utime(entry / ENTRY_FILE, ns=(now, now))


def _build_entry(files: list[str], *, image_size: int, root: Path, key: str, listing: str,
                 in_memory: bool) -> tuple[Path, np.ndarray | None]:
    """Decode ``files`` into a new entry, written in a temporary folder and renamed
    into place (another process building the same entry at once: theirs is kept).
    Returns the entry and, when ``in_memory``, the decoded array (else None: map it)."""
    work = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX, dir=root))
    shape = (len(files), image_size, image_size, 3)
    try:
        if in_memory:  # decode in RAM, write the file once
            pixels = np.empty(shape, np.uint8)
            decode_into(pixels, files, image_size=image_size)
            np.save(work / PIXELS_FILE, pixels)
        else:  # larger than RAM should hold: decode straight into the file
            pixels = np.lib.format.open_memmap(work / PIXELS_FILE, mode="w+", dtype=np.uint8,
                                               shape=shape)
            decode_into(pixels, files, image_size=image_size)
            pixels.flush()
            pixels = None
        (work / ENTRY_FILE).write_text(json.dumps({
            "format": ENTRY_FORMAT, "key": key, "paths_key": listing, "image_size": image_size,
            "count": len(files), "bytes": len(files) * image_size * image_size * 3,
            "folder": os.path.commonpath(files) if files else "", "created": time.time(),
            "decoder_version": DECODER_VERSION}, indent=1))
        try:
            os.rename(work, root / key)
        except OSError:  # built meanwhile by another process
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return root / key, pixels


def _unkept_store(files: list[str], *, image_size: int, in_memory: bool, where: str) -> ImageStore:
    shape = (len(files), image_size, image_size, 3)
    if in_memory:
        pixels = np.empty(shape, np.uint8)
    else:
        # A file that is gone once the run ends: unlinked at once, kept alive by its map.
        fd, name = tempfile.mkstemp(prefix=".unkept-", suffix=".u8", dir=cache_root())
        os.close(fd)
        pixels = np.memmap(name, dtype=np.uint8, mode="w+", shape=shape)
        os.unlink(name)
    decode_into(pixels, files, image_size=image_size)
    return ImageStore(pixels=pixels, image_size=image_size, where=where, entry=None,
                      decoded=len(files))


def decode_into(pixels: np.ndarray, files: Sequence[str], *, image_size: int) -> None:
    """Decode ``files`` into ``pixels[i]`` with the one decoder, in parallel (any order:
    each image carries its row)."""
    import tensorflow as tf

    from modelkit.data import tuning
    from modelkit.data.decode import read_image_tf

    if not len(files):
        return
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(files)), list(files)))
    ds = ds.map(lambda i, p: (i, read_image_tf(p, image_size=image_size)),
                num_parallel_calls=tuning.PARALLEL_CALLS, deterministic=False)
    ds = tuning.untuned(ds.batch(DECODE_BATCH).prefetch(tuning.PREFETCH_BATCHES))
    for rows, images in ds.as_numpy_iterator():
        pixels[rows] = images
