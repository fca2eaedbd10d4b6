"""Time the run comparison (paired bootstrap) and the Compare page's re-render.

    .venv/bin/python bench/bench_compare.py [--passes 5] [--n-boot 1000]

Writes two contract-shaped runs per size into a temporary runs root (the second is
the first with a tenth of its race predictions changed, so the runs are correlated
as a remedy and its baseline are) and times ``modelkit.evaluate.compare.runs.compare`` on
2 runs x 800 and x 10,000 test images, the sizes interleaved pass by pass. Then
renders pages/compare.py with AppTest (the script run on the server; the browser's
drawing is not included) on the 800-image pair: the first load (comparison computed)
and re-renders (same inputs; another figure; another attribute), interleaved.
Prints medians with min-max and the machine load (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_evaluate_page import synthetic_predictions  # noqa: E402

from modelkit.evaluate import PREDICTIONS_FILE  # noqa: E402
from modelkit.evaluate.compare.runs import compare  # noqa: E402

SIZES = (800, 10_000)  # test images per run


def write_pair(root: Path, test_images: int) -> list[Path]:
    """Baseline and a correlated second run with ``test_images`` test rows each."""
    frame = synthetic_predictions(int(test_images / 0.8) + 50, seed=0)
    test = np.flatnonzero(frame["split"].to_numpy() == "test")
    frame = frame.drop(index=test[test_images:]).reset_index(drop=True)
    other = frame.copy()
    changed = np.random.default_rng(1).random(len(other)) < 0.1
    other.loc[changed, "race_pred"] = "Others"
    folders = []
    for name, table in ((f"base-{test_images}", frame), (f"other-{test_images}", other)):
        folder = root / name
        folder.mkdir()
        table.to_parquet(folder / PREDICTIONS_FILE)
        folders.append(folder)
    return folders


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, "
            f"n={len(times)})")


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["FACESCOPE_RUNS_ROOT"] = str(root)
        pairs = {n: write_pair(root, n) for n in SIZES}
        print(f"before: {load()}  ({os.cpu_count()} CPUs)")
        compare(pairs[SIZES[0]], n_boot=10)  # imports and first-touch costs out of the timing
        times: dict[int, list[float]] = {n: [] for n in SIZES}
        for _ in range(args.passes):
            for n in SIZES:
                start = time.perf_counter()
                result = compare(pairs[n], n_boot=args.n_boot)
                times[n].append(time.perf_counter() - start)
        for n in SIZES:
            print(f"compare 2 runs x {n:>6} test images, {args.n_boot} paired resamples: "
                  f"{summary(times[n])}  ({len(result.figures)} figures)")
        page_timings(pairs[SIZES[0]], passes=args.passes)
        print(f"after: {load()}")


def page_timings(pair: list[Path], *, passes: int) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "compare.py"), default_timeout=600)
    at.query_params.update({"baseline": pair[0].name, "runs": pair[1].name})
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    metrics = ["race_accuracy", "race_recall_Others"]
    attributes = ["race", "age_group"]
    steps = {"same inputs": lambda a, i: None,
             "another figure": lambda a, i: a.selectbox(key="compare_metric").set_value(metrics[i % 2]),
             "another attribute": lambda a, i: a.selectbox(key="compare_attribute").set_value(
                 attributes[i % 2])}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(passes):
        for name, step in steps.items():
            step(at, i)
            start = time.perf_counter()
            at.run()
            times[name].append(time.perf_counter() - start)
            if at.exception:
                raise RuntimeError(at.exception[0].value)
    print(f"Compare page, 2 runs x {SIZES[0]}: first load {first:.2f} s (comparison computed)")
    for name, values in times.items():
        print(f"  re-render, {name:<18} {summary(values)}")


if __name__ == "__main__":
    main()
