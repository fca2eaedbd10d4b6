"""The exported SavedModel against the run's model.keras: size, load time, predictions/s.

    .venv/bin/python bench/bench_export.py --run-dir RUN [--passes 5] [--calls 20]

Exports RUN (``modelkit.export.export_run``) into a temporary folder, then measures:

- **size** of the SavedModel folder and of ``model.keras``;
- **load time**, each in a fresh process that has already imported TensorFlow (the
  import is not counted): ``tf.saved_model.load`` + the signature vs
  ``keras.models.load_model(compile=False)``, one of each per pass, interleaved;
- **predictions per second** at batch 1 and 64, in one process, interleaved passes of
  ``calls`` calls each (after a warm-up call of each): the export's signature fed
  real UTKFace faces at their own 200 px (it resizes inside), the signature fed faces
  already at the model's size, and ``model.predict`` on the model's float32 input.

Every figure is the median over the passes, with the spread (min-max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LOAD = """
import json, sys, time
import tensorflow as tf, keras, numpy as np
what, path = sys.argv[1:3]
start = time.perf_counter()
if what == "savedmodel":
    serve = tf.saved_model.load(path).signatures["serving_default"]
else:
    model = keras.models.load_model(path, compile=False)
print(json.dumps({"load_s": time.perf_counter() - start}))
"""


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def load_seconds(what: str, path: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", LOAD, what, str(path)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])["load_s"]


def summary(values: list[float], digits: int = 1) -> str:
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from modelkit.data import decode
    from modelkit.export import export_run
    from modelkit.models.run_model import image_size, load_run_model

    run = Path(args.run_dir)
    out = Path(tempfile.mkdtemp(prefix="facescope-export-")) / "export"
    started = time.perf_counter()
    result = export_run(run, out=out)
    export_s = time.perf_counter() - started
    print(f"run {run} ({json.loads((run / 'config.json').read_text()).get('backbone')}); "
          f"load average {os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} / "
          f"{os.getloadavg()[2]:.1f}; {os.cpu_count()} CPU cores")
    print(f"export took {export_s:.1f} s; SavedModel {result.size_bytes / 2**20:.2f} MiB, "
          f"model.keras {folder_bytes(run / 'model.keras') / 2**20:.2f} MiB")

    loads = {"savedmodel": [], "keras": []}
    for _ in range(args.passes):
        loads["savedmodel"].append(load_seconds("savedmodel", out))
        loads["keras"].append(load_seconds("keras", run / "model.keras"))
    print(f"load time, s, median (min-max) of {args.passes} fresh processes: "
          f"SavedModel {summary(loads['savedmodel'], 2)}, model.keras {summary(loads['keras'], 2)}")
    print("  each pass (SavedModel, model.keras): " + ", ".join(
        f"({a:.2f}, {b:.2f})" for a, b in zip(loads["savedmodel"], loads["keras"], strict=True)))

    model = load_run_model(run)
    size = image_size(model)
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    files = sorted((REPO.parent / "shared" / "data" / "utkface_sample").glob("*.jpg"))[:64]
    native = np.stack([decode.decode_file(f) for f in files])            # 200 x 200 uint8
    small = np.asarray(decode.model_inputs(native, image_size=size), np.uint8)
    ways = {
        "export, 200 px uint8 (resize inside)": lambda x: serve(images=tf.constant(x)),
        f"export, {size} px uint8": lambda x: serve(images=tf.constant(x)),
        "model.predict, float32": lambda x: model.predict(x, verbose=0),
    }
    inputs = {"export, 200 px uint8 (resize inside)": native, f"export, {size} px uint8": small,
              "model.predict, float32": small.astype(np.float32)}
    for batch in (1, 64):
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for name, call in ways.items():
            call(inputs[name][:batch])  # warm-up: tracing, first allocation
        for _ in range(args.passes):
            for name, call in ways.items():
                x = inputs[name][:batch]
                start = time.perf_counter()
                for _ in range(args.calls):
                    call(x)
                rates[name].append(batch * args.calls / (time.perf_counter() - start))
        print(f"\nbatch {batch}: predictions per second, median (min-max) of {args.passes} "
              f"interleaved passes of {args.calls} calls")
        base = statistics.median(rates["model.predict, float32"])
        for name, values in rates.items():
            print(f"  {name:<40} {summary(values):>24}   x{statistics.median(values) / base:.2f}")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} / "
          f"{os.getloadavg()[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
