"""Detections cached per file, and aligned crops of a whole dataset (``--align``).

Finding faces costs 50-100 ms per dataset image on a CPU, so it is done once per file:
the faces MTCNN found (``modelkit.data.faces.align.DetectedFace``, boxes and landmarks) are
kept in ``cache_dir()/faces-v1.sqlite`` keyed by (absolute path, size, mtime_ns, how the
pixels were decoded, the detector's settings), like the image scan
(``modelkit.data.scan``): a second look at an unchanged file only ``stat``s it.

:func:`align_dataset` turns a loosely cropped set (FairFace's crops carry padding 0.25)
into the training set's framing: each image's main face (the largest) is aligned and
written once as a PNG under ``cache_dir()/faces/crops/``, and the manifest points at
that crop (its ``original_path`` column keeps the file it came from). Images where no
face is found, or only one too small to use, are left out and listed in
``Dataset.skipped`` with that reason, as the readers list theirs.

Example::

    from modelkit.data import load_dataset
    from modelkit.data.faces.crops import align_dataset
    data = align_dataset(load_dataset("fairface", root="../shared/data/fairface_sample"))
    data.manifest["path"]       # aligned 200 x 200 crops, read by the pipeline as any file
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelkit.data.cache_files import guarded, write_png_atomic
from modelkit.data.faces import align as facelib
from modelkit.data.faces import detect as face_detect
from modelkit.data.manifest import Dataset, Skipped
from modelkit.data.scan import Progress
from modelkit.paths import cache_dir

_DB_NAME = "faces-v1.sqlite"
CROPS_DIR = "faces/crops"
# What a cached detection depends on besides the file: a change here misses the cache.
SETTINGS = (f"{face_detect.DETECTOR_NAME};conf={face_detect.MIN_CONFIDENCE};"
            f"min={face_detect.MIN_DETECT_SIDE};max={face_detect.DETECT_MAX_SIDE}")
VARIANTS = ("dataset", "photo")  # decoded as training reads files / with the EXIF orientation


@dataclass(frozen=True)
class FileFaces:
    """The faces found in one file, as decoded (``shape`` = its (height, width))."""

    path: str
    shape: tuple[int, int]
    faces: list[face_detect.DetectedFace]


def file_key(path: str | os.PathLike) -> tuple[str, int, int]:
    """(absolute path, size, mtime_ns) of an existing file; FileNotFoundError otherwise."""
    absolute = os.path.abspath(os.fspath(path))
    st = os.stat(absolute)
    return absolute, st.st_size, st.st_mtime_ns


# ----------------------------------------------------------------------------- one photo

def detect_photo(image: np.ndarray, *, path: str | os.PathLike, cache: bool = True
                 ) -> list[face_detect.DetectedFace]:
    """The faces of a photo file the caller has decoded with its EXIF orientation
    (``modelkit.uploads.decode_image_file``), from the cache when the file is unchanged."""
    key = file_key(path)
    shape = tuple(np.asarray(image).shape[:2])
    if cache:
        hit = _guarded(_lookup, [key], "photo", default={}).get(key[0])
        if hit is not None and hit.shape == shape:
            return hit.faces
    faces = face_detect.detect_faces(image)
    if cache:
        _guarded(_store, [(key, FileFaces(key[0], shape, faces))], "photo", default=None)
    return faces


# ----------------------------------------------------------------------------- many files

def detect_files(paths: Sequence[str | os.PathLike], *, cache: bool = True,
                 batch_size: int = face_detect.BATCH_SIZE, progress: Progress | None = None
                 ) -> list[FileFaces | Skipped]:
    """The faces of each dataset file (decoded as training decodes it), in order; a file
    that is missing or cannot be decoded is a ``Skipped`` with the reason."""
    from modelkit.data import decode

    keys: list[tuple | None] = []
    results: list[FileFaces | Skipped | None] = []
    for path in paths:
        try:
            keys.append(file_key(path))
            results.append(None)
        except OSError:
            keys.append(None)
            results.append(Skipped(str(path), "file not found"))
    known = [k for k in keys if k is not None]
    cached = _guarded(_lookup, known, "dataset", default={}) if cache else {}
    todo = []
    for i, key in enumerate(keys):
        if key is not None and key[0] in cached:
            results[i] = cached[key[0]]
        elif key is not None:
            todo.append(i)
    done = len(paths) - len(todo)
    if progress is not None:
        progress(done, len(paths))
    for start in range(0, len(todo), batch_size):
        chunk, images = [], []
        for i in todo[start:start + batch_size]:
            try:
                images.append(decode.decode_file(keys[i][0]))
                chunk.append(i)
            except (OSError, ValueError) as exc:  # decode.ImageDecodeError is a ValueError
                results[i] = Skipped(keys[i][0], f"unreadable image ({exc})")
        found = face_detect.detect_batch(images, batch_size=batch_size)
        fresh = []
        for i, image, faces in zip(chunk, images, found, strict=True):
            results[i] = FileFaces(keys[i][0], tuple(image.shape[:2]), faces)
            fresh.append((keys[i], results[i]))
        if cache:
            _guarded(_store, fresh, "dataset", default=None)
        done += len(todo[start:start + batch_size])
        if progress is not None:
            progress(done, len(paths))
    return results


def align_dataset(dataset: Dataset, *, cache: bool = True, progress: Progress | None = None
                  ) -> Dataset:
    """``dataset`` with each image replaced by the aligned crop of its main face.

    Rows keep their labels and split; ``path`` becomes the crop (a PNG in the cache,
    written once), ``original_path`` the image it was cut from. Images with no face,
    or whose main face is smaller than ``faces.MIN_FACE_SIDE``, are dropped and listed
    in ``skipped``.
    """
    manifest = dataset.manifest.reset_index(drop=True)
    found = detect_files(manifest["path"].astype(str).tolist(), cache=cache, progress=progress)
    crops: list[str | None] = []
    skipped = list(dataset.skipped)
    for entry in found:
        if isinstance(entry, Skipped):
            crops.append(None)
            skipped.append(entry)
            continue
        face = face_detect.primary_face(entry.faces)
        problem = ("no face found by the detector (--align; "
                   f"{face_detect.DETECTOR_NAME}, confidence >= {face_detect.MIN_CONFIDENCE})"
                   if face is None else face.size_problem())
        if problem:
            crops.append(None)
            skipped.append(Skipped(entry.path, problem if face is None else f"--align: {problem}"))
        else:
            crops.append(_crop_file(entry.path, face))
    keep = np.array([c is not None for c in crops], dtype=bool)
    aligned = manifest.loc[keep].copy()
    aligned.insert(1, "original_path", aligned["path"].astype(str))
    aligned["path"] = [c for c in crops if c is not None]
    return dataclasses.replace(dataset, manifest=aligned.reset_index(drop=True), skipped=skipped)


def _crop_file(path: str, face: face_detect.DetectedFace) -> str:
    """The aligned crop of ``face`` in ``path`` as a PNG in the cache (written once,
    atomically; the name depends on the file, the face and the framing)."""
    from PIL import Image

    from modelkit.data import decode

    key = file_key(path)
    digest = hashlib.sha1(json.dumps([*key, face.to_dict(), dataclasses.astuple(
        facelib.UTKFACE_FRAMING), facelib.CROP_SIZE]).encode()).hexdigest()[:24]
    folder = cache_dir() / CROPS_DIR
    if (folder / f"{digest}.png").exists():
        return str(folder / f"{digest}.png")
    crop = facelib.align_face(decode.decode_file(path), face)
    return write_png_atomic(folder, digest, Image.fromarray(crop))


# ----------------------------------------------------------------------------- the cache

def _guarded(function, *args, default):
    """A broken or locked cache costs speed, never the detection."""
    return guarded(function, *args, default=default, what="face", index=cache_dir() / _DB_NAME,
                   doing="detecting")


def _connect() -> sqlite3.Connection:
    con = sqlite3.connect(cache_dir() / _DB_NAME, timeout=30)
    con.execute("CREATE TABLE IF NOT EXISTS detections (path TEXT, variant TEXT, settings TEXT, "
                "size INTEGER, mtime_ns INTEGER, height INTEGER, width INTEGER, faces TEXT, "
                "PRIMARY KEY (path, variant, settings))")
    return con


def _lookup(keys: list[tuple[str, int, int]], variant: str) -> dict[str, FileFaces]:
    """Cached detections of the files whose size and mtime are unchanged, by path."""
    wanted = {path: (size, mtime) for path, size, mtime in keys}
    found: dict[str, FileFaces] = {}
    names = list(wanted)
    con = _connect()
    try:
        for start in range(0, len(names), 500):  # SQLite caps bound parameters per statement
            chunk = names[start:start + 500]
            query = (f"SELECT path, size, mtime_ns, height, width, faces FROM detections WHERE "
                     f"variant = ? AND settings = ? AND path IN ({','.join('?' * len(chunk))})")
            for path, size, mtime, height, width, faces in con.execute(query, [variant, SETTINGS, *chunk]):
                if (size, mtime) == wanted[path]:
                    found[path] = FileFaces(path, (height, width), [
                        face_detect.DetectedFace.from_dict(f) for f in json.loads(faces)])
    finally:
        con.close()
    return found


def _store(entries: list[tuple[tuple[str, int, int], FileFaces]], variant: str) -> None:
    records = [(path, variant, SETTINGS, size, mtime, entry.shape[0], entry.shape[1],
                json.dumps([f.to_dict() for f in entry.faces]))
               for (path, size, mtime), entry in entries]
    con = _connect()
    try:
        with con:
            con.executemany("INSERT OR REPLACE INTO detections VALUES (?,?,?,?,?,?,?,?)", records)
    finally:
        con.close()
