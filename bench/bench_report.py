"""Time an audit report (``modelkit.report.write_report``) against the evaluation it is
built on, and measure the file.

    .venv/bin/python bench/bench_report.py --run-dir RUN [--on SET ...] [--compare OTHER ...] [--passes 3]

Three jobs, interleaved pass by pass:

- ``evaluate``: what a careful user runs to get the same numbers without a report:
  ``evaluate_run`` on the run's own split and on each ``--on`` set, at the CLI's
  bootstrap default, plus ``compare`` against each ``--compare`` run on each of them;
- ``report, no examples``: the report with ``--no-examples`` (no model is loaded);
- ``report``: the whole report, with the worst errors' saliency maps.

Prints each job's median with min-max, the ratios of the medians, the page's and the
twin's sizes, how many charts and pictures the page holds, and the machine load
(``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from plotly.offline import get_plotlyjs  # noqa: E402

from modelkit.evaluate import evaluate_run  # noqa: E402
from modelkit.evaluate.compare.runs import compare  # noqa: E402
from modelkit.prediction.evalsets import EVAL_SPLIT, eval_set_ref, find_eval_set  # noqa: E402
from modelkit.report import write_report  # noqa: E402


def evaluate_alone(run_dir: str, on: list[str], others: list[str]) -> None:
    """The numbers the report carries, computed the way the commands compute them."""
    evaluate_run(run_dir)
    for name in on:
        evaluate_run(find_eval_set(run_dir, name))
    for other in others:
        compare([other, run_dir])
        for name in on:
            compare([eval_set_ref(r, name) for r in (other, run_dir)], split=EVAL_SPLIT)


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f}, "
            f"n={len(times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--on", action="append", default=[])
    parser.add_argument("--compare", action="append", default=[])
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.html"
        jobs = {
            "evaluate": lambda: evaluate_alone(args.run_dir, args.on, args.compare),
            "report, no examples": lambda: write_report(args.run_dir, on=args.on, compare=args.compare,
                                                        out=out, examples=False),
            "report": lambda: write_report(args.run_dir, on=args.on, compare=args.compare, out=out),
        }
        print(f"before: {load()}  ({os.cpu_count()} CPUs)")
        jobs["report"]()  # imports, the model's first load and TensorFlow's warm-up out of the timing
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.passes):
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - start)
        page = out.read_text(encoding="utf-8")
        twin = out.with_suffix(".json")
        print(f"after:  {load()}")
        for name, measured in times.items():
            print(f"{name:22s} {summary(measured)}")
        base = statistics.median(times["evaluate"])
        for name in ("report, no examples", "report"):
            print(f"{name} / evaluate: {statistics.median(times[name]) / base:.2f}x")
        charts = page.count('class="plotly-graph-div"')
        inlined = page.count(get_plotlyjs()[:200])
        print(f"page {out.stat().st_size / 1e6:.2f} MB, twin {twin.stat().st_size / 1e6:.2f} MB; "
              f"{charts} charts, {page.count('<img ')} pictures, plotly.js inlined {inlined} time(s)")

if __name__ == "__main__":
    main()
