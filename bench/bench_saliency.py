"""How long one saliency map takes on this machine, per method, after warm-up.

    .venv/bin/python bench/bench_saliency.py [--size 128] [--backbones small_cnn mobilenet_v3_small]
                                             [--repeats 5] [--head gender]

For each backbone (untrained, weights=None: speed does not depend on the weights) and
method, it makes one warm-up call (graph building, the linearised clone), then times
``repeats`` calls on a batch of 1 and a batch of 16 faces and prints the median
milliseconds per map. The issue's target: one 128-px map well under a second on CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from modelkit import labels, saliency  # noqa: E402
from modelkit.config import SALIENCY_METHODS  # noqa: E402
from modelkit.model import build_model  # noqa: E402


def time_per_map(model, images: np.ndarray, *, head: str, method: str, repeats: int) -> float:
    """Median milliseconds per map over ``repeats`` calls (after one warm-up call)."""
    def call():
        saliency.explain(model, images, head=head, method=method, batch_size=len(images))

    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--backbones", nargs="+", default=["small_cnn", "mobilenet_v3_small"])
    parser.add_argument("--methods", nargs="+", default=list(SALIENCY_METHODS))
    parser.add_argument("--head", default="gender", choices=labels.HEADS)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", saliency.ConstantMapWarning)

    import tensorflow as tf
    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices()) or "CPU"
    print(f"saliency benchmark: {args.size}-px faces, {args.head} head, devices {devices}, "
          f"{os.cpu_count()} CPU cores visible; median ms per map after one warm-up call")
    print(f"{'backbone':<20} {'method':<11} {'batch 1':>10} {'batch 16':>10}")
    rng = np.random.default_rng(0)
    for backbone in args.backbones:
        model = build_model(backbone=backbone, image_size=args.size,
                            race_classes=list(labels.UTKFACE_RACES), weights="none")
        faces = rng.uniform(0, 255, (16, args.size, args.size, 3)).astype(np.float32)
        for method in args.methods:
            one = time_per_map(model, faces[:1], head=args.head, method=method,
                               repeats=args.repeats)
            many = time_per_map(model, faces, head=args.head, method=method,
                                repeats=max(1, args.repeats // 2))
            print(f"{backbone:<20} {method:<11} {one:>8.1f}ms {many:>8.1f}ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
