"""Benchmark: the input pipeline vs PIL loaders and the decode-only ceiling, interleaved.

Every loader reads the same real JPEGs into float32 batches (B, S, S, 3) (the
PyDataset also as float32 batches). Each pass times every loader once, in a rotated
order, so a change of machine load hits all of them (the garbage collector runs
before each timing, outside it); the figures are the median over the passes with the
min..max spread, and the load average is printed per pass.

Loaders:
  pil           single-threaded PIL: open, convert("RGB"), resize(BILINEAR), stack
  pil-draft     the same with Image.draft (PIL's own reduced-size JPEG decode), for reference
  pydataset-t   keras.utils.PyDataset of PIL batches, workers=2, threads
  pydataset-p   the same with use_multiprocessing=True
  ceiling       tf.io.decode_jpeg(ratio) + the decoder's shrinking resize (area) on all cores,
                in plain tf.data, nothing else (no rounding, no labels, no shuffle)
  ceiling-aa    the same with the antialiased bilinear resize (ScaleAndTranslate) instead
  cold          modelkit.pipeline.make_dataset(training=True, cache=False): decode every pass
  first-run     make_dataset(cache=True) on an empty persistent cache: decode into it + a pass
  cached        make_dataset(cache=True) built anew (as a new run does) + a pass, from the
                persistent cache

``--training`` instead times ``model.fit`` of small_cnn at 64 and 128 px: on a
synthetic in-memory input of the same shape (no input cost), on the pipeline from the
cache with augmentation (training's default), the same without augmentation (what the
input costs without it), and on the uncached pipeline with augmentation.

    nice -n 10 .venv/bin/python bench/bench_pipeline.py --root ../shared/data/utkface_sample --limit 2000 --passes 7
    nice -n 10 .venv/bin/python bench/bench_pipeline.py --training --limit 2000 --steps 150
    .venv/bin/python bench/bench_pipeline.py --training --sizes 128 --steps 30
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import gc
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def pil_image(path: str, size: int, *, draft: bool) -> np.ndarray:
    with Image.open(path) as image:
        if draft:
            image.draft("RGB", (size, size))
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), "float32")


def pil_batches(paths, *, size: int, batch_size: int, draft: bool = False):
    for start in range(0, len(paths), batch_size):
        yield np.stack([pil_image(p, size, draft=draft) for p in paths[start:start + batch_size]])


def pydataset_batches(paths, *, size: int, batch_size: int, processes: bool):
    import keras
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    class Faces(keras.utils.PyDataset):
        def __len__(self):
            return -(-len(paths) // batch_size)

        def __getitem__(self, i):
            return pil_batches(paths[i * batch_size:(i + 1) * batch_size], size=size,
                               batch_size=batch_size).__next__()

    # What model.fit does with a PyDataset: its adapter's iterator, an epoch at a time.
    adapter = PyDatasetAdapter(Faces(workers=2, use_multiprocessing=processes, max_queue_size=10),
                               shuffle=False)
    adapter.on_epoch_begin()
    yield from adapter.get_numpy_iterator()
    adapter.on_epoch_end()


def ceiling_dataset(paths, *, size: int, batch_size: int, ratio: int, resize: str = "area"):
    import tensorflow as tf

    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio)
        if resize == "bilinear-aa":
            return tf.image.resize(image, (size, size), antialias=True)
        return tf.image.resize(image, (size, size), method=resize)
    return (tf.data.Dataset.from_tensor_slices(list(paths))
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            .batch(batch_size).prefetch(tf.data.AUTOTUNE))


def count(batches) -> int:
    return sum(len(b[0] if isinstance(b, tuple) else b) for b in batches)


def loaders(args) -> None:
    from modelkit.data import decode, load_dataset
    from modelkit.data.caches import image_cache
    from modelkit.pipeline import make_dataset

    data = load_dataset("utkface", root=args.root, limit=args.limit, seed=0)
    manifest = data.manifest
    paths = manifest["path"].astype(str).tolist()
    size, bs = args.image_size, args.batch_size
    with Image.open(paths[0]) as first:
        ratio = decode.jpeg_ratio(first.height, first.width, target=size)

    def pipeline(cache: bool):
        return (x for x, _ in make_dataset(manifest, split=None, image_size=size, batch_size=bs,
                                           race_classes=data.race_classes, training=True,
                                           cache=cache))

    def first_run():
        image_cache.clear()
        return pipeline(True)

    def ceiling():
        return iter(ceiling_dataset(paths, size=size, batch_size=bs, ratio=ratio))

    runs = {
        "pil": lambda: pil_batches(paths, size=size, batch_size=bs),
        "pil-draft": lambda: pil_batches(paths, size=size, batch_size=bs, draft=True),
        "pydataset-t": lambda: pydataset_batches(paths, size=size, batch_size=bs, processes=False),
        "pydataset-p": lambda: pydataset_batches(paths, size=size, batch_size=bs, processes=True),
        "ceiling": ceiling,
        "ceiling-aa": lambda: iter(ceiling_dataset(paths, size=size, batch_size=bs, ratio=ratio,
                                                   resize="bilinear-aa")),
        "cold": lambda: pipeline(False),
        "first-run": first_run,
        "cached": lambda: pipeline(True),
    }
    names = [n for n in runs if n in args.loaders]
    print(f"{len(paths)} JPEGs ({first.width}x{first.height}) from {args.root}, {size} px, "
          f"batches of {bs}, {os.cpu_count()} cores; ceiling decodes at ratio {ratio}")
    print(f"start: {uptime()}")
    for name in names:  # warm-up: traces, imports, the OS file cache
        for _ in zip(range(2), runs[name](), strict=False):
            pass
    # Per pass and loader: images/s over the whole pass (building the loader included,
    # as a new run pays it), images/s once it yields (building excluded: the rate an
    # epoch runs at), and the building time (tf.data: tracing and instantiating the
    # map functions; first-run and cached: the image store is filled or read then).
    rates: dict[str, list[float]] = {n: [] for n in names}
    steady: dict[str, list[float]] = {n: [] for n in names}
    setup: dict[str, list[float]] = {n: [] for n in names}
    for p in range(args.passes):
        order = names[p % len(names):] + names[:p % len(names)]
        for name in order:
            gc.collect()  # outside the timing: no loader pays for another's garbage
            start = time.perf_counter()
            batches = iter(runs[name]())
            built = time.perf_counter()
            n = count(batches)
            end = time.perf_counter()
            rates[name].append(n / (end - start))
            steady[name].append(n / (end - built))
            setup[name].append(built - start)
            assert n == len(paths), (name, n)
        print(f"pass {p + 1}: load {os.getloadavg()[0]:.2f}  " +
              "  ".join(f"{n} {rates[n][-1]:.0f}" for n in names), flush=True)
    print(f"end:   {uptime()}")
    median = {n: statistics.median(r) for n, r in rates.items()}
    flowing = {n: statistics.median(r) for n, r in steady.items()}
    base = median.get("pil")
    print(f"\n{'loader':12} {'median img/s':>12} {'min..max':>14} {'vs PIL':>7}"
          f"   {'building excluded':>17} {'min..max':>14}  building s")
    for n in names:
        vs = f"{median[n] / base:6.2f}x" if base else ""
        print(f"{n:12} {median[n]:12.0f} {min(rates[n]):6.0f}..{max(rates[n]):<7.0f} {vs:>7}"
              f"   {flowing[n]:17.0f} {min(steady[n]):6.0f}..{max(steady[n]):<7.0f}"
              f"  {statistics.median(setup[n]):.2f}")
    if {"cold", "ceiling"} <= set(median):
        print(f"cold pipeline / ceiling: {median['cold'] / median['ceiling']:.0%} "
              f"(building excluded: {flowing['cold'] / flowing['ceiling']:.0%})")
    best_py = max((median[n] for n in ("pydataset-t", "pydataset-p") if n in median), default=None)
    if best_py and "cold" in median:
        print(f"cold pipeline / best PyDataset: {median['cold'] / best_py:.2f}x")


def training(args) -> None:
    import keras
    import tensorflow as tf

    from modelkit import model as modellib
    from modelkit.augment import augment_batch
    from modelkit.data import load_dataset
    from modelkit.pipeline import make_dataset

    data = load_dataset("utkface", root=args.root, limit=args.limit, seed=0)
    manifest, bs = data.manifest, args.train_batch
    print(f"{len(manifest)} faces, batch {bs}, {args.steps} steps per measurement; {uptime()}")
    results: dict[tuple[int, str], list[float]] = {}
    for size in args.sizes:
        keras.utils.set_random_seed(0)
        model = modellib.build_model(backbone="small_cnn", image_size=size,
                                     race_classes=data.race_classes, weights="none")
        modellib.compile_model(model, lr=2e-3, decay_steps=10_000)
        sample = make_dataset(manifest.iloc[:bs], split=None, image_size=size, batch_size=bs,
                              race_classes=data.race_classes, training=False)
        x, y = next(iter(sample))
        inputs = {
            "synthetic": tf.data.Dataset.from_tensors(
                (tf.random.uniform(x.shape, 0, 255), modellib.model_targets(y))).repeat(),
        }
        for name, cache, augment in (("pipeline-cached", True, True),
                                     ("cached-no-augment", True, False),
                                     ("pipeline-uncached", False, True)):
            ds = make_dataset(manifest, split=None, image_size=size, batch_size=bs,
                              race_classes=data.race_classes, training=True, cache=cache,
                              augment=augment_batch if augment else None)
            inputs[name] = ds.map(lambda x, y: (x, modellib.model_targets(y))).repeat()
        for ds in inputs.values():  # warm-up: trace the step on each input
            model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0)
        for rep in range(args.train_passes):
            for name, ds in inputs.items():
                start = time.perf_counter()
                model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
                rate = args.steps * bs / (time.perf_counter() - start)
                results.setdefault((size, name), []).append(rate)
                print(f"{size} px {name:18} pass {rep + 1}: {rate:6.0f} images/s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"end: {uptime()}\n\n{'size':>4} {'input':18} {'median img/s':>12} {'min..max':>12}"
          " vs synthetic")
    for (size, name), rates in results.items():
        synthetic = statistics.median(results[(size, "synthetic")])
        print(f"{size:>4} {name:18} {statistics.median(rates):12.0f} "
              f"{min(rates):5.0f}..{max(rates):<6.0f} {statistics.median(rates) / synthetic:6.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64, help="training's default")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--loaders", nargs="+", default=["pil", "pil-draft", "pydataset-t",
                        "pydataset-p", "ceiling", "ceiling-aa", "cold", "first-run", "cached"])
    parser.add_argument("--training", action="store_true", help="time model.fit instead")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--train-passes", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128],
                        help="with --training: the image sizes to time")
    args = parser.parse_args()
    # The persistent cache of this benchmark lives (and dies) in a temporary folder.
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        os.environ["FACESCOPE_CACHE_DIR"] = cache
        (training if args.training else loaders)(args)


if __name__ == "__main__":
    main()
