"""How long the newcomer's demo run takes: interleaved fresh-cache and warm-cache passes.

    .venv/bin/python bench/bench_demo.py --passes 3

Each pass trains ``modelkit.runs.demo.DEMO`` in the foreground (what the demo's
supervisor runs) twice: once with an empty cache (the synthetic set is drawn first, as
on a fresh install) and once with the cache the fresh pass left. Prints wall time, CPU
time (user + sys of the trainer), the load average and the run's test-split figures
(gender and race accuracy, age MAE, and the MAE of always answering the median age) per
pass, then the medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_short_run import test_figures  # noqa: E402
from modelkit.runs.demo import DEMO  # noqa: E402


def one_run(cache: Path, work: Path) -> tuple[float, float, int]:
    """Train the demo once: (wall s, CPU s of the child, exit status)."""
    config = work / "demo.json"
    DEMO.save(config)
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "modelkit", "train", "--config", str(config),
                            "--run-dir", str(run_dir)], cwd=REPO,
                           env={**os.environ, "FACESCOPE_CACHE_DIR": str(cache)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    figures: dict[str, list[tuple[float, float]]] = {"fresh": [], "warm": []}
    for index in range(1, args.passes + 1):
        cache = work / f"cache-{index}"
        for kind in ("fresh", "warm"):  # warm reuses the cache the fresh pass filled
            load = os.getloadavg()[0]
            wall, cpu, code = one_run(cache, work)
            print(f"pass {index} {kind:5}: wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
                  f"load {load:.1f}  exit {code}  "
                  f"{test_figures(work / 'run') if code == 0 else ''}", flush=True)
            if code == 0:
                figures[kind].append((wall, cpu))
        shutil.rmtree(cache, ignore_errors=True)
    for kind, rows in figures.items():
        if rows:
            walls, cpus = zip(*rows, strict=True)
            print(f"{kind}: median wall {statistics.median(walls):.1f} s "
                  f"({min(walls):.1f}-{max(walls):.1f}), median cpu {statistics.median(cpus):.1f} s "
                  f"({min(cpus):.1f}-{max(cpus):.1f})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
