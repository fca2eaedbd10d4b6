"""Benchmark: the training augmenter alone, per batch of 64, at 64 and 128 px, against
what a careful Keras user would write: the six Keras preprocessing layers (flip,
rotation, zoom, translation, brightness, contrast) in a ``keras.Sequential``, which
draw from a stateful seed and so are mapped one batch at a time. FaceScope's
``augment_batch`` folds the geometry into one resampling and is stateless, so it is
timed both one batch at a time and mapped in parallel (as modelkit.pipeline maps it).
Passes are interleaved; the median and range are printed with the load. Set it beside
the model's step time (bench_pipeline.py --training) to see whether it can keep up.

    .venv/bin/python bench/bench_augment.py --batches 20 --passes 5
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import statistics
import time


def keras_layers(config):
    """The same augmentations as Keras preprocessing layers (FaceScope's augmenter
    before it was made stateless)."""
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=0),
        keras.layers.RandomRotation(config.rotation, fill_mode="reflect", seed=1),
        keras.layers.RandomZoom(config.zoom, fill_mode="reflect", seed=2),
        keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="reflect", seed=3),
        keras.layers.RandomBrightness(config.brightness, value_range=(0, 255), seed=4),
        keras.layers.RandomContrast(config.contrast, value_range=(0, 255), seed=5),
    ])


def datasets(images, batches: int) -> dict:
    import tensorflow as tf

    from modelkit.augment import AugmentConfig, augment_batch

    layers = keras_layers(AugmentConfig())
    plain = tf.data.Dataset.from_tensors(images).repeat(batches)
    seeded = tf.data.Dataset.zip(plain, tf.data.Dataset.random(seed=0).batch(2))
    return {
        "keras-layers": plain.map(lambda x: layers(x, training=True)),
        "stateless-serial": seeded.map(augment_batch),
        "stateless-parallel": seeded.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE),
    }


def seconds_per_batch(ds) -> float:
    start = time.perf_counter()
    n = sum(1 for _ in ds)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()

    import tensorflow as tf

    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at the start")
    for size in args.sizes:
        images = tf.random.uniform((64, size, size, 3), 0, 255)
        loaders = datasets(images, args.batches)
        for ds in loaders.values():  # warm-up: tracing
            for _ in ds.take(2):
                pass
        times: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(args.passes):
            for name, ds in loaders.items():
                times[name].append(seconds_per_batch(ds))
        baseline = statistics.median(times["keras-layers"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{size} px {name:19} {median * 1000:6.0f} ms per batch of 64 "
                  f"({min(values) * 1000:.0f}..{max(values) * 1000:.0f}), "
                  f"{baseline / median:4.1f}x the Keras layers", flush=True)
        print(f"  load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
