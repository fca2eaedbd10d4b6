"""Benchmark 2: the tf.data pipeline vs a naive loader, on the same real JPEGs.

The naive loader is what a notebook does: for each batch of 32 paths, open each file
with PIL one at a time, resize it, stack. The pipeline is ``modelkit.pipeline.
make_dataset`` (parallel read + decode + resize, prefetch), no augmentation, without
and with its cache (training's default: epoch 1 decodes, later epochs read the cache).
Both produce (32, S, S, 3) float32 batches of the same images; images/s over one pass.

    .venv/bin/python bench/bench_pipeline.py --root ../shared/data/utkface_sample --limit 2000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import time

import numpy as np
from PIL import Image


def naive_batches(paths, *, image_size: int, batch_size: int):
    for start in range(0, len(paths), batch_size):
        batch = [np.asarray(Image.open(p).convert("RGB").resize((image_size, image_size),
                                                                Image.BILINEAR), "float32")
                 for p in paths[start:start + batch_size]]
        yield np.stack(batch)


def images_per_s(batches) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for batch in batches:
        n += len(batch)
    return n / (time.perf_counter() - start), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from modelkit.data import load_dataset
    from modelkit.pipeline import make_dataset

    data = load_dataset("utkface", root=args.root, limit=args.limit, seed=0)
    manifest = data.manifest
    paths = manifest["path"].tolist()
    ds = make_dataset(manifest, split=None, image_size=args.image_size, batch_size=args.batch_size,
                      race_classes=data.race_classes, training=False)
    cached = make_dataset(manifest, split=None, image_size=args.image_size,
                          batch_size=args.batch_size, race_classes=data.race_classes,
                          training=False, cache=True)
    for _ in cached:  # the first pass fills the cache (what training's epoch 1 does)
        pass
    # Warm both up on a few batches (TF graph tracing, file cache), then time full passes.
    for _ in zip(range(3), ds, strict=False):
        pass
    for _ in zip(range(3), naive_batches(paths, image_size=args.image_size, batch_size=32), strict=False):
        pass
    print(f"{len(paths)} JPEGs from {args.root}, batches of {args.batch_size}, "
          f"{args.image_size}px, cores {os.cpu_count()}, load average {os.getloadavg()}")
    results = {}
    for name, make in (("naive PIL", lambda: naive_batches(paths, image_size=args.image_size,
                                                          batch_size=args.batch_size)),
                       ("tf.data", lambda: (x for x, _ in ds)),
                       ("naive PIL (again)", lambda: naive_batches(
                           paths, image_size=args.image_size, batch_size=args.batch_size)),
                       ("tf.data (again)", lambda: (x for x, _ in ds)),
                       ("tf.data cached", lambda: (x for x, _ in cached))):
        rate, n = images_per_s(make())
        results[name] = rate
        print(f"{name:18s} {rate:8.0f} images/s ({n} images)")
    naive = max(results["naive PIL"], results["naive PIL (again)"])
    fast = max(results["tf.data"], results["tf.data (again)"])
    print(f"speed-up tf.data / naive (best of two each): {fast / naive:.2f}x")
    print(f"speed-up tf.data cached (epochs 2+ of training) / naive: "
          f"{results['tf.data cached'] / naive:.2f}x")


if __name__ == "__main__":
    main()
