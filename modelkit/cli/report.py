"""`python -m modelkit report --run-dir R [--on SET ...] [--compare OTHER ...] --out FILE.html`.

Writes an audit report to hand over: one self-contained HTML file (it opens offline,
in any browser, with no server) and its JSON twin ``FILE.json`` holding every number.
The run's own test split is reported when it has one, then each evaluation set named
by ``--on``; each ``--compare`` run is a baseline, compared on every one of those sets.
The run may be an outside model (``models add``). Shape in docs/CONTRACTS.md, "Reports".
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML audit report of a model",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="the run folder, or an outside model's folder")
    p.add_argument("--on", action="append", default=[], metavar="SET",
                   help="an evaluation set of the run to report on (repeatable)")
    p.add_argument("--compare", action="append", default=[], metavar="OTHER",
                   help="a run to compare with, as the baseline (id or folder; repeatable)")
    p.add_argument("--out", required=True, help="the .html file to write (its twin: .json)")
    p.add_argument("--no-examples", action="store_true",
                   help="leave out the worst errors and their saliency maps (no model is loaded)")
    p.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from modelkit.report import write_report

    started = time.perf_counter()
    page, twin = write_report(args.run_dir, on=args.on, compare=args.compare, out=args.out,
                              runs_root=args.runs_root, examples=not args.no_examples)
    print(f"{page} ({Path(page).stat().st_size / 1e6:.1f} MB) and {twin} written in "
          f"{time.perf_counter() - started:.1f} s")
    return 0
