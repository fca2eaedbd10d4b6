"""The GPU check of issue 22, ready for a machine with a GPU (CI never runs it).

    .venv/bin/python bench/gpu_check.py --root ../shared/data/utkface_sample

In one process, printed as it goes:

1. what TensorFlow sees and what ``--precision auto`` picks there;
2. step images/s (``train_on_batch`` on one in-memory batch, median of interleaved
   passes) for ``dlib_resnet`` at 64 px and ``inception_resnet_v2`` at 128 px, in
   float32 and in the GPU's mixed precision, with XLA off and on;
3. a short accuracy run: ``dlib_resnet`` with the transfer recipe on the UTKFace
   sample (``--epochs``), its test-split scores and wall clock.

``--quick`` shrinks everything (a few steps, 400 faces, 1 epoch) to check the script
itself on a CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import statistics
import tempfile
import time

from bench_accuracy import head_scores
from bench_train_step import compiled, random_batch, step_ms

VARIANTS = (("dlib_resnet", 64, 128), ("inception_resnet_v2", 128, 64))  # backbone, px, batch


def devices() -> str:
    import tensorflow as tf

    from modelkit.precision import choose_precision, cpu_flags, gpu_capabilities

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    auto = choose_precision("auto", gpus=gpu_capabilities(), flags=cpu_flags())
    return f"GPUs: {gpus or 'none (CPU)'}; auto precision: {auto}"


def step_rates(*, steps: int, passes: int, xlas) -> None:
    from modelkit import labels
    from modelkit.precision import choose_precision, cpu_flags, gpu_capabilities

    races = list(labels.UTKFACE_RACES)
    mixed = choose_precision("auto", gpus=gpu_capabilities(), flags=cpu_flags()).name
    precisions = ["float32"] + ([mixed] if mixed != "float32" else [])
    variants = {}
    for backbone, size, batch_size in VARIANTS:
        batch = random_batch(size, batch_size, len(races))
        for xla in xlas:
            for precision in precisions:
                model = compiled(backbone, size=size, xla=xla, races=races, precision=precision)
                step_ms(model, batch, 3)  # traces (and compiles) the step
                variants[(backbone, size, xla, precision)] = (model, batch, [])
    for p in range(passes):
        keys = list(variants)
        for key in keys[p % len(keys):] + keys[:p % len(keys)]:
            model, batch, times = variants[key]
            times.extend(step_ms(model, batch, steps))
    print("| backbone | px | XLA | precision | median ms / step | images/s |")
    print("|---|---|---|---|---|---|")
    for (backbone, size, xla, precision), (_, batch, times) in variants.items():
        median = statistics.median(times)
        print(f"| {backbone} | {size} | {'on' if xla else 'off'} | {precision} | {median:.1f} "
              f"| {len(batch[0]) / median * 1000:.0f} |", flush=True)


def accuracy_run(root: str, *, epochs: int, freeze_epochs: int, limit: int | None) -> None:
    import pandas as pd

    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="utkface", root=root, backbone="dlib_resnet", epochs=epochs,
                         freeze_epochs=freeze_epochs, backbone_lr_scale=0.3, limit=limit)
    start = time.time()
    run = train(config, run_dir=Path(tempfile.mkdtemp(prefix="gpu-check-")) / "run", verbose=2)
    test = pd.read_parquet(run / "predictions.parquet").query("split == 'test'")
    print(f"dlib_resnet, {epochs} epochs ({freeze_epochs} frozen): {time.time() - start:.0f} s; "
          f"test split {head_scores(test)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="a smoke check of the script")
    args = parser.parse_args()
    print(devices(), flush=True)
    step_rates(steps=2 if args.quick else 20, passes=1 if args.quick else 3,
               xlas=[False] if args.quick else [False, True])
    accuracy_run(args.root, epochs=1 if args.quick else args.epochs,
                 freeze_epochs=0 if args.quick else 2, limit=400 if args.quick else None)


if __name__ == "__main__":
    main()
