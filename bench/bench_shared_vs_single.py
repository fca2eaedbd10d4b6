"""Benchmark 1: one shared-backbone model vs three single-task models.

Same backbone, data, epochs and pipeline; the three single-task models are trained
one after another, as one would without the shared design. Reports wall time per
epoch (training part), parameters, and each head's validation metric.

    .venv/bin/python bench/bench_shared_vs_single.py --root ../shared/data/utkface_sample \
        --limit 2000 --epochs 3
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent in each epoch's training batches (validation excluded)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self.last - self.start)


def fit(model, train_ds, val_ds, *, epochs: int):
    timer = EpochTimer()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[timer],
                        verbose=0)
    # Epoch 1 includes tracing and filling the cache: time the later ones when there are.
    seconds = timer.seconds[1:] or timer.seconds
    return sum(seconds) / len(seconds), history.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backbone", default="small_cnn")
    args = parser.parse_args()

    from modelkit import model as M
    from modelkit.data import load_dataset
    from modelkit.pipeline import make_dataset

    keras.utils.set_random_seed(0)
    data = load_dataset("utkface", root=args.root, limit=args.limit, seed=0)
    races = data.race_classes

    def dataset(split, training):
        return make_dataset(data.manifest, split=split, image_size=args.image_size,
                            batch_size=args.batch_size, race_classes=races, training=training,
                            seed=0, cache=True).map(lambda x, y: (x, M.model_targets(y)))

    train_ds, val_ds = dataset("train", True), dataset("val", False)
    metric = {"gender": "val_gender_accuracy", "race": "val_race_accuracy", "age": "val_age_mae"}
    print(f"{len(data.manifest)} UTKFace images, {args.backbone} {args.image_size}px, "
          f"{args.epochs} epochs, batch {args.batch_size}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()}")

    shared = M.compile_model(M.build_model(backbone=args.backbone, image_size=args.image_size,
                                           race_classes=races), lr=2e-3)
    shared_s, shared_h = fit(shared, train_ds, val_ds, epochs=args.epochs)
    single_s, single_p, single_m = 0.0, 0, {}
    for head in ("gender", "race", "age"):
        model = M.compile_model(M.build_single_task_model(
            head, backbone=args.backbone, image_size=args.image_size, race_classes=races), lr=2e-3)
        seconds, history = fit(model, train_ds.map(lambda x, y, h=head: (x, y[h])),
                               val_ds.map(lambda x, y, h=head: (x, y[h])), epochs=args.epochs)
        single_s += seconds
        single_p += model.count_params()
        suffix = metric[head].rsplit("_", 1)[1]  # accuracy / mae (Keras may drop the head name)
        key = metric[head] if metric[head] in history else f"val_{suffix}"
        single_m[head] = history[key][-1]

    print(f"{'':22s}{'shared':>12s}{'3 singles':>12s}{'ratio':>8s}")
    print(f"{'s / epoch (train)':22s}{shared_s:12.1f}{single_s:12.1f}{shared_s / single_s:8.2f}")
    print(f"{'parameters':22s}{shared.count_params():12d}{single_p:12d}"
          f"{shared.count_params() / single_p:8.2f}")
    for head, key in metric.items():
        a, b = shared_h[key][-1], single_m[head]
        print(f"{key:22s}{a:12.3f}{b:12.3f}{a - b:+8.3f}")


if __name__ == "__main__":
    main()
