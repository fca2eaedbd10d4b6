"""What one training step costs, per backbone, precision and XLA, on in-memory batches.

    .venv/bin/python bench/bench_train_step.py --backbones small_cnn small_cnn_deep --xla both
    .venv/bin/python bench/bench_train_step.py --xla off --precisions float32 bfloat16 auto

Each variant is the run's model (``model.run_model`` of ``train``'s defaults: EMA,
the cosine schedule, dropout) fed one fixed random batch through
``train_on_batch``, so input costs nothing. Variants are warmed up, then their passes
are interleaved (the order rotates each pass) so a change in the machine's speed hits
every variant alike. A pass times ``--steps`` steps one by one; the table gives the
median step over all passes, the spread of the passes' medians, and images/s at the
median. Whole runs (bench_accuracy.py) remain the measure of a recipe's wall clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import statistics
import time

import numpy as np


def random_batch(size: int, batch_size: int, n_races: int, seed: int = 0):
    """Pixels and targets of the shape and range the pipeline feeds the model."""
    from modelkit.model import model_targets

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (batch_size, size, size, 3)).astype("float32")
    targets = {"gender": rng.integers(0, 2, batch_size), "race": rng.integers(0, n_races, batch_size),
               "age": rng.integers(0, 90, batch_size), "age_group": rng.integers(0, 9, batch_size)}
    return x, {k: np.asarray(v) for k, v in model_targets(targets).items()}


def compiled(backbone: str, *, size: int, xla: bool, races: list[str],
             precision: str = "float32"):
    """The model ``train`` builds and compiles for this backbone and size (its defaults
    otherwise), with XLA on or off, in ``precision`` (``auto``: what a run here picks).
    Each model keeps the policy it was built under, so variants interleave."""
    from modelkit import precision as precisions
    from modelkit.config import TrainConfig
    from modelkit.model import run_model

    with precisions.restored_policy():
        precisions.set_precision(precision, backbone)
        model = run_model(TrainConfig(backbone=backbone, image_size=size), race_classes=races,
                          steps_per_epoch=1_000)
    model.jit_compile = xla  # "auto" means off on a CPU-only machine
    return model


def step_ms(model, batch, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(*batch)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["small_cnn", "small_cnn_deep"])
    parser.add_argument("--xla", choices=["off", "on", "both"], default="both")
    parser.add_argument("--precisions", nargs="+", default=["float32"],
                        help="float32, bfloat16, float16 and/or auto")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per pass")
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()

    from modelkit import labels
    from modelkit.precision import choose_precision, cpu_flags, gpu_capabilities

    races = list(labels.UTKFACE_RACES)
    batch = random_batch(args.image_size, args.batch_size, len(races))
    xlas = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    auto = choose_precision("auto", gpus=gpu_capabilities(), flags=cpu_flags())
    print(f"# load before: {os.getloadavg()}, {os.cpu_count()} cores, "
          f"{args.image_size} px, batch {args.batch_size}; auto = {auto.name} ({auto.reason})")
    variants = {}
    for backbone in args.backbones:
        for xla in xlas:
            for precision in args.precisions:
                model = compiled(backbone, size=args.image_size, xla=xla, races=races,
                                 precision=precision)
                step_ms(model, batch, 3)  # traces (and compiles) the step
                variants[(backbone, xla, precision)] = (model, [], [])
    keys = list(variants)
    for p in range(args.passes):
        for key in keys[p % len(keys):] + keys[:p % len(keys)]:
            model, steps, medians = variants[key]
            times = step_ms(model, batch, args.steps)
            steps.extend(times)
            medians.append(statistics.median(times))
    print(f"# load after: {os.getloadavg()}")
    print("| backbone | XLA | precision | parameters | median ms / step | pass medians, min–max "
          "| images/s | vs float32 |")
    print("|---|---|---|---|---|---|---|---|")
    for (backbone, xla, precision), (model, steps, medians) in variants.items():
        median = statistics.median(steps)
        base = variants.get((backbone, xla, "float32"))
        ratio = f"{statistics.median(base[1]) / median:.2f}×" if base else "–"
        print(f"| {backbone} | {'on' if xla else 'off'} | {precision} | {model.count_params():,} | "
              f"{median:.0f} | {min(medians):.0f}–{max(medians):.0f} | "
              f"{args.batch_size / median * 1000:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
