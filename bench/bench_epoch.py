"""A real training epoch against its pure step, side by side (issue 23).

    .venv/bin/python bench/bench_epoch.py --sizes 64 128 --precisions float32 bfloat16

For each image size and precision, in one process:

- the **pure step**: ``train_on_batch`` of the run's model on one in-memory batch
  (``bench_train_step``'s measure: input costs nothing);
- **real ``train`` runs** on the UTKFace sample: the cached images, augmentation,
  the balance plan, every callback of a run (metrics, heartbeat, cancel check,
  TensorBoard, checkpoints). A callback times each epoch after the first (which
  traces the step): its training part, first batch to last, and the whole epoch
  with validation.

Passes interleave the variants, so a change in the machine's speed hits each alike.
The table gives medians over passes and epochs with their min–max, and the epoch's
images/s as a share of the pure step's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import json
import os
import statistics
import tempfile
import time

import keras


class EpochClock(keras.callbacks.Callback):
    """Seconds of each epoch's training part and of the whole epoch (with validation)."""

    def __init__(self):
        super().__init__()
        self.train_s, self.epoch_s = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = self.last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:  # the first epoch traces the step
            self.train_s.append(self.last - self.start)
            self.epoch_s.append(time.perf_counter() - self.start)


def real_epochs(args, *, size: int, precision: str, folder: Path,
                epochs: int | None = None) -> tuple[list, list, int]:
    """Train images/s and whole-epoch images/s of one real run's timed epochs, and the
    images of an epoch."""
    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="utkface", root=args.root, image_size=size, epochs=epochs or args.epochs,
                         precision=precision, limit=args.limits.get(size))
    clock = EpochClock()
    run = train(config, run_dir=tempfile.mkdtemp(dir=folder), callbacks=[clock], verbose=0)
    images = json.loads((run / "config.json").read_text())["n_train"]  # no balance plan
    return ([images / s for s in clock.train_s], [images / s for s in clock.epoch_s], images)


def main() -> None:
    from bench_train_step import compiled, random_batch, step_ms

    from modelkit import labels

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--epochs", type=int, default=3, help="per real run (the first untimed)")
    parser.add_argument("--limit-128", type=int, default=3000,
                        help="faces at 128 px and above, to keep a pass short")
    parser.add_argument("--steps", type=int, default=30, help="pure steps per pass")
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    args.limits = {size: (args.limit_128 if size >= 128 else None) for size in args.sizes}

    races = list(labels.UTKFACE_RACES)
    folder = Path(tempfile.mkdtemp(prefix="bench-epoch-"))
    print(f"# load before: {os.getloadavg()}, {os.cpu_count()} cores, batch 32", flush=True)
    keys = [(size, p) for size in args.sizes for p in args.precisions]
    pure, real, whole, images = {}, {k: [] for k in keys}, {k: [] for k in keys}, {}
    for size, p in keys:  # warm-up: traces the steps
        model = compiled("small_cnn", size=size, xla=False, races=races, precision=p)
        batch = random_batch(size, 32, len(races))
        step_ms(model, batch, 3)
        pure[(size, p)] = (model, batch, [])
    for size in args.sizes:  # fills the image cache
        real_epochs(args, size=size, precision=args.precisions[0], folder=folder, epochs=1)
    for n in range(args.passes):
        for size, p in keys[n % len(keys):] + keys[:n % len(keys)]:
            model, batch, times = pure[(size, p)]
            times.extend(step_ms(model, batch, args.steps))
            train_rates, epoch_rates, images[(size, p)] = real_epochs(
                args, size=size, precision=p, folder=folder)
            real[(size, p)].extend(train_rates)
            whole[(size, p)].extend(epoch_rates)
            print(f"# pass {n}: {size} px {p}: pure {32000 / statistics.median(times):.0f}, "
                  f"epochs {[round(r) for r in train_rates]} images/s", flush=True)
    print(f"# load after: {os.getloadavg()}")
    print("| size | precision | images per epoch | pure step images/s | real epoch, training part "
          "(min–max) | share of the step | whole epoch with validation (min–max) |")
    print("|---|---|---|---|---|---|---|")
    for key in keys:
        step = 32000 / statistics.median(pure[key][2])
        rate, full = statistics.median(real[key]), statistics.median(whole[key])
        print(f"| {key[0]} px | {key[1]} | {images[key]:,} | {step:.0f} | {rate:.0f} "
              f"({min(real[key]):.0f}–{max(real[key]):.0f}) | {rate / step:.0%} | {full:.0f} "
              f"({min(whole[key]):.0f}–{max(whole[key]):.0f}) |")


if __name__ == "__main__":
    main()
