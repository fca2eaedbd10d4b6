"""Benchmark: the training augmenter alone, per batch of 64, mapped over a tf.data
dataset one batch at a time (as modelkit.pipeline maps it), at 64 and 128 px: all its
layers, and each geometric transform alone. Set it beside the model's step time
(bench_pipeline.py --training) to see whether augmentation can keep up.

    .venv/bin/python bench/bench_augment.py --batches 20
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import time

VARIANTS = {
    "all": {},
    "flip+light": {"rotation": 0, "zoom": 0, "shift": 0},
    "rotation": {"flip": False, "zoom": 0, "shift": 0, "brightness": 0, "contrast": 0},
    "zoom": {"flip": False, "rotation": 0, "shift": 0, "brightness": 0, "contrast": 0},
    "shift": {"flip": False, "rotation": 0, "zoom": 0, "brightness": 0, "contrast": 0},
}


def seconds_per_batch(augmenter, images, *, batches: int) -> float:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors(images).repeat(batches).map(
        lambda batch: augmenter(batch, training=True))
    for _ in ds.take(2):  # warm-up: tracing
        pass
    start = time.perf_counter()
    n = sum(1 for _ in ds)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()

    import tensorflow as tf

    from modelkit.augment import AugmentConfig, build_augmenter

    for size in args.sizes:
        images = tf.random.uniform((64, size, size, 3), 0, 255)
        times = {name: seconds_per_batch(build_augmenter(seed=0, config=AugmentConfig(**change)),
                                         images, batches=args.batches)
                 for name, change in VARIANTS.items()}
        print(f"{size} px: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items())
              + f" per batch of 64 (load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
