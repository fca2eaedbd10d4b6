"""Footprint: peak memory of training and of the dashboard, CPU inference latency, model size.

    nice -n 10 .venv/bin/python bench/bench_footprint.py train --sizes 64 128 --epochs 1
    nice -n 10 .venv/bin/python bench/bench_footprint.py dashboard --rows 100000
    nice -n 10 .venv/bin/python bench/bench_footprint.py inference --run-dir /tmp/footprint/train-64

``train``: ``python -m modelkit train`` on the 8,000 UTKFace faces, under
``/usr/bin/time -v`` (peak resident set size of the process), with a fresh image
cache; prints the peak, the wall time, the image-cache lines (as train.log has them) and the size
of model.keras. ``dashboard``: a fresh process renders the Dataset page
(``streamlit.testing.v1.AppTest``, the server's script run, no browser) on a
FairFace-layout folder of ``--rows`` tiny JPEGs (bench/bench_dataset_page.py writes
it); prints its resident memory after the load and its peak. ``inference``: the
run's model.keras on CPU, ``model.predict_on_batch`` at batch 1 and 64 (median of
``--repeats`` calls after a warm-up), and the same from image files through the one
decoder at batch 1.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PYTHON = sys.executable


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(command: list[str], *, env: dict | None = None) -> tuple[float, float, str]:
    """Run ``command`` under /usr/bin/time -v: (peak RSS MiB, wall s, its output)."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return peak / 1024, wall, done.stdout + done.stderr


def train(args) -> None:
    out = Path(args.out)
    for size in args.sizes:
        run_dir = out / f"train-{size}"
        with tempfile.TemporaryDirectory(prefix="footprint-cache-") as cache:
            peak, wall, output = timed(
                [PYTHON, "-m", "modelkit", "train", "--source", "utkface", "--root", args.root,
                 "--epochs", str(args.epochs), "--image-size", str(size), "--run-dir",
                 str(run_dir)], env={"FACESCOPE_CACHE_DIR": cache})
        cache_lines = [line for line in output.splitlines() if "image cache:" in line]
        model = run_dir / "model.keras"
        print(f"{size} px, {args.epochs} epoch(s): peak RSS {peak:,.0f} MiB, wall {wall:.0f} s, "
              f"model.keras {model.stat().st_size / 2**20:.2f} MiB ({model.stat().st_size:,} B)"
              + "".join(f"\n    {line.strip()}" for line in cache_lines)
              + f"\n    {uptime()}", flush=True)


DASHBOARD_CHILD = """
import os, sys, time, resource
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
import psutil
from pathlib import Path
from streamlit.testing.v1 import AppTest
from bench_dataset_page import write_fairface
root = Path({root!r})
if not (root / "fairface_label_train.csv").exists():
    write_fairface(root, {rows})
before = psutil.Process().memory_info().rss
at = AppTest.from_file({page!r}, default_timeout=1800)
at.run()
at.selectbox(key="ds_source").set_value("fairface").run()
at.text_input(key="ds_root").set_value(str(root))
start = time.perf_counter(); at.run(); took = time.perf_counter() - start
assert not at.exception, at.exception
print(f"RSS before the page {{before / 2**20:,.0f}} MiB, after loading {{{rows}:,}} rows "
      f"{{psutil.Process().memory_info().rss / 2**20:,.0f}} MiB (load {{took:.1f}} s)")
"""


def dashboard(args) -> None:
    with tempfile.TemporaryDirectory(prefix="footprint-dash-") as tmp:
        root = Path(tmp) / "fairface"
        code = DASHBOARD_CHILD.format(repo=str(REPO), bench=str(REPO / "bench"), root=str(root),
                                      rows=args.rows, page=str(REPO / "pages" / "dataset.py"))
        env = {"FACESCOPE_CACHE_DIR": str(Path(tmp) / "cache"), "FACESCOPE_DATA_ROOTS": tmp}
        # The first process writes the folder and scans it; the second finds the scan
        # cache, as a dashboard started again on the same data does.
        for label in ("first (writes + scans)", "second (scan cache)"):
            peak, wall, output = timed([PYTHON, "-c", code], env=env)
            line = next(x for x in output.splitlines() if x.startswith("RSS before"))
            print(f"dashboard {label}: {line}; peak RSS {peak:,.0f} MiB\n    {uptime()}",
                  flush=True)


def inference(args) -> None:
    from modelkit.data import decode
    from modelkit.saliency import image_size, load_run_model

    model = load_run_model(args.run_dir)
    size = image_size(model)
    files = sorted(Path(args.root).glob("*.jpg"))[:64]
    faces = decode.load_model_inputs(files, image_size=size)
    print(f"{args.run_dir}: {size} px, {model.count_params():,} parameters, "
          f"{os.cpu_count()} cores; {uptime()}")
    for batch in (1, 64):
        x = faces[:batch]
        for _ in range(3):
            model.predict_on_batch(x)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.predict_on_batch(x)
            times.append(time.perf_counter() - start)
        per_face = [t / batch * 1000 for t in times]
        print(f"batch {batch:>2}: {statistics.median(per_face):7.2f} ms per face "
              f"(min {min(per_face):.2f}, max {max(per_face):.2f}; {len(times)} calls)", flush=True)
    times = []
    for file in files[: args.repeats]:
        start = time.perf_counter()
        model.predict_on_batch(decode.load_model_inputs([file], image_size=size))
        times.append(time.perf_counter() - start)
    print(f"file -> prediction, batch 1 (decode + model): {statistics.median(times) * 1000:.2f} ms "
          f"per face (min {min(times) * 1000:.2f}, max {max(times) * 1000:.2f})")
    print(f"end: {uptime()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("train")
    p.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "utkface_sample"))
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", default="/tmp/footprint")
    p.set_defaults(func=train)
    p = sub.add_parser("dashboard")
    p.add_argument("--rows", type=int, default=100_000)
    p.set_defaults(func=dashboard)
    p = sub.add_parser("inference")
    p.add_argument("--run-dir", default="/tmp/footprint/train-64")
    p.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "utkface_sample"))
    p.add_argument("--repeats", type=int, default=30)
    p.set_defaults(func=inference)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
