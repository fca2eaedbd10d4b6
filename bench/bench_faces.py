"""Benchmark: face detection + alignment (``modelkit.data.faces.align``, MTCNN) on this CPU.

Three parts, each printing what docs/BENCHMARKS.md quotes:

- ``framing``: where the face lies in UTKFace's "aligned & cropped" chips (the figures
  ``faces.UTKFACE_FRAMING`` holds), and how steady each candidate measure of the
  crop's scale is across the chips;
- ``found``: the share of a sample's images where a face is found (and large enough),
  through ``face_crops.detect_files`` (batched, cache off);
- ``speed``: ms per image for detection + alignment, a batch of files against one
  photo upload (two sample faces pasted on a 1024 x 768 canvas), interleaved passes.

    .venv/bin/python bench/bench_faces.py framing --root ../shared/data/utkface_sample --n 1000
    .venv/bin/python bench/bench_faces.py found --source fairface --root ../shared/data/fairface_sample
    .venv/bin/python bench/bench_faces.py found --source utkface --root ../shared/data/utkface_sample --n 1200
    .venv/bin/python bench/bench_faces.py speed --root ../shared/data/fairface_sample --passes 5
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def sample(files: list[str], n: int | None, seed: int = 0) -> list[str]:
    if n is None or n >= len(files):
        return files
    return sorted(np.random.default_rng(seed).choice(files, n, replace=False).tolist())


def images_of(root: str) -> list[str]:
    return sorted(str(p) for p in Path(root).rglob("*.jpg"))


def quantiles(values: np.ndarray) -> str:
    return (f"{np.median(values):.3f} ({np.percentile(values, 10):.3f}-"
            f"{np.percentile(values, 90):.3f}), cv {values.std() / values.mean():.3f}")


def framing(args) -> None:
    from modelkit.data import decode
    from modelkit.data.faces import detect as face_detect

    files = sample(images_of(args.root), args.n)
    started, rows, sides = time.time(), [], []
    for start in range(0, len(files), 64):
        images = [decode.decode_file(f) for f in files[start:start + 64]]
        for image, found in zip(images, face_detect.detect_batch(images), strict=True):
            face = face_detect.primary_face(found)
            if face is not None:
                rows.append(face)
                sides.append(image.shape[1])
    print(f"framing: a face in {len(rows)} of {len(files)} chips, {time.time() - started:.0f} s, "
          f"load {load()}")
    side = np.array(sides, dtype=float)
    left = np.array([f.point("left_eye") for f in rows]) / side[:, None]
    right = np.array([f.point("right_eye") for f in rows]) / side[:, None]
    mouth = np.array([(f.point("mouth_left") + f.point("mouth_right")) / 2 for f in rows]) / side[:, None]
    mid = (left + right) / 2
    eyes, eye_mouth = np.linalg.norm(right - left, axis=1), np.linalg.norm(mouth - mid, axis=1)
    box = np.array([f.box for f in rows]) / side[:, None]
    roll = np.abs([f.eye_roll for f in rows])
    print("median (10th-90th percentile), coefficient of variation; fractions of the chip side")
    for name, values in (("eye midpoint x", mid[:, 0]), ("eye midpoint y", mid[:, 1]),
                         ("eye distance", eyes), ("eye midpoint to mouth", eye_mouth),
                         ("box width", box[:, 2]), ("box height", box[:, 3]),
                         ("|eye roll| (degrees)", roll)):
        print(f"  {name:24s} {quantiles(values)}")
    e, m = eyes / np.median(eyes), eye_mouth / np.median(eye_mouth)
    print("scale estimates (1 = the median chip):")
    for name, values in (("eye distance", e), ("eye to mouth", m), ("mean of the two", (e + m) / 2),
                         ("max of the two", np.maximum(e, m)),
                         ("box sqrt(w*h)", np.sqrt(box[:, 2] * box[:, 3]))):
        print(f"  {name:24s} {quantiles(values / np.median(values))}")


def found(args) -> None:
    from modelkit.data.faces import crops as face_crops
    from modelkit.data.faces import detect as face_detect

    files = sample(images_of(args.root), args.n)
    started = time.time()
    results = face_crops.detect_files(files, cache=False)
    seconds = time.time() - started
    counts = {"a usable face": 0, "only a too small face": 0, "no face": 0, "unreadable": 0}
    several = 0
    for entry in results:
        if not isinstance(entry, face_crops.FileFaces):
            counts["unreadable"] += 1
            continue
        face = face_detect.primary_face(entry.faces)
        several += len(entry.faces) > 1
        key = ("no face" if face is None else
               "only a too small face" if face.size_problem() else "a usable face")
        counts[key] += 1
    print(f"{args.source}: {len(files)} images in {seconds:.0f} s "
          f"({seconds / len(files) * 1000:.0f} ms per image, batches of {face_detect.BATCH_SIZE}), "
          f"load {load()}")
    for key, n in counts.items():
        print(f"  {key:22s} {n:5d}  {n / len(files):.1%}")
    print(f"  (more than one face: {several})")


def group_photo(files: list[str], *, size=(768, 1024)) -> np.ndarray:
    """Two sample faces pasted on a grey canvas, the second smaller and turned 12 degrees."""
    from PIL import Image

    from modelkit.data import decode

    canvas = Image.new("RGB", size[::-1], (118, 124, 130))
    first = Image.fromarray(decode.decode_file(files[0])).resize((300, 300))
    second = Image.fromarray(decode.decode_file(files[1])).resize((220, 220)).rotate(12)
    canvas.paste(first, (120, 200))
    canvas.paste(second, (640, 260))
    return np.asarray(canvas)


def speed(args) -> None:
    from modelkit.data import decode
    from modelkit.data.faces import align as faces
    from modelkit.data.faces import crops as face_crops
    from modelkit.data.faces import detect as face_detect

    files = images_of(args.root)[:args.batch]
    photo = group_photo(images_of(args.root)[-2:])
    faces.detect_faces(photo)  # build the detector and trace its graphs once
    batch_ms, single_ms, photo_ms = [], [], []
    for _ in range(args.passes):  # interleaved: each pass times all three
        with tempfile.TemporaryDirectory() as cache:
            os.environ["FACESCOPE_CACHE_DIR"] = cache
            started = time.perf_counter()
            data = face_crops.detect_files(files, cache=False)
            for entry in data:
                face = face_detect.primary_face(entry.faces)
                if face is not None:
                    faces.align_face(decode.decode_file(entry.path), face)
            batch_ms.append((time.perf_counter() - started) / len(files) * 1000)
        started = time.perf_counter()
        for path in files[:args.single]:
            image = decode.decode_file(path)
            faces.find_faces(image, name=path)
        single_ms.append((time.perf_counter() - started) / args.single * 1000)
        started = time.perf_counter()
        result = faces.find_faces(photo, name="group")
        photo_ms.append((time.perf_counter() - started) * 1000)
    print(f"speed ({args.passes} interleaved passes; median, min-max), load {load()}")
    for name, values in ((f"batch of {len(files)} files, ms per image", batch_ms),
                         (f"one file at a time ({args.single}), ms per image", single_ms),
                         (f"one 1024x768 upload, {len(result.faces)} faces, ms", photo_ms)):
        print(f"  {name:44s} {statistics.median(values):7.0f}  ({min(values):.0f}-{max(values):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("framing")
    p.add_argument("--root", default="../shared/data/utkface_sample")
    p.add_argument("--n", type=int, default=1000)
    p.set_defaults(func=framing)
    p = sub.add_parser("found")
    p.add_argument("--source", default="fairface")
    p.add_argument("--root", default="../shared/data/fairface_sample")
    p.add_argument("--n", type=int, default=None)
    p.set_defaults(func=found)
    p = sub.add_parser("speed")
    p.add_argument("--root", default="../shared/data/fairface_sample")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--single", type=int, default=16)
    p.add_argument("--passes", type=int, default=5)
    p.set_defaults(func=speed)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
