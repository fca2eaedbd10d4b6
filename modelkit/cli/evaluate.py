"""`python -m modelkit evaluate --run-dir DIR [--split val|test] [--on NAME] [--json]`.

Errors per demographic group for a finished run: overall figures, figures per group
(and per intersection such as race x gender) with their n and bootstrap intervals,
confusion matrices (rows true, columns predicted) and the gap between the best and
the worst group. ``--json`` prints one object (shape in ``Evaluation.to_json_dict``).
``--on NAME`` evaluates the run's predictions on another dataset (``python -m modelkit
predict ... --name NAME``, kept in ``<run>/eval/NAME/``) instead of its own split.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from modelkit import labels
from modelkit.evaluate.result import DEFAULT_N_BOOT


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="errors per demographic group of a run's predictions",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="the run folder (holds predictions.parquet)")
    p.add_argument("--split", choices=[s for s in labels.SPLITS if s != "train"], default=None,
                   help="evaluation split (default: test when present, else val)")
    p.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT,
                   help="bootstrap resamples per group for the intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--on", metavar="NAME", help="an evaluation set of the run (made by "
                   "`modelkit predict --name NAME`) instead of the run's own split")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelkit.evaluate import evaluate_run

    if args.n_boot < 0:
        raise ValueError(f"--n-boot must be 0 or more, got {args.n_boot}")
    folder, on = args.run_dir, {}
    if args.on:
        from modelkit.prediction.evalsets import describe, find_eval_set, summary

        folder = find_eval_set(args.run_dir, args.on)
        on = {"on": args.on, "evaluation_set": summary(folder)}
    evaluation = evaluate_run(folder, split=args.split, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        payload = {"run_dir": str(args.run_dir), **on, **evaluation.to_json_dict()}
        print(json.dumps(payload, indent=2, allow_nan=False))
    else:
        title = str(args.run_dir) + (f"  on {describe(folder)}" if args.on else "")
        print(format_report(evaluation, run_dir=title))
    return 0


def format_report(evaluation, *, run_dir: str) -> str:
    """The readable report: overall, headline figures per group, gaps, confusion."""
    from modelkit.evaluate import CLASS_HEADS, HEADLINE_METRICS

    # The per-group tables keep to the figures a reader compares first; the rest is
    # in --json.
    compact = [m for m in HEADLINE_METRICS if m.endswith(("_accuracy", "_mae", "_median_ae"))
               and "balanced" not in m]
    lines = [f"run {run_dir}  split {evaluation.split}  n={evaluation.n}"]
    if evaluation.age_mae_vs_midpoint:
        lines.append("age errors are against the midpoint of each true age range "
                     "(the source gives ranges, not years)")
    overall = evaluation.overall.set_index("metric")[["value", "ci_low", "ci_high", "n"]]
    lines += ["", "Overall", _table(overall.loc[[m for m in HEADLINE_METRICS if m in overall.index]])]
    headline = evaluation.by_group[evaluation.by_group["metric"].isin(HEADLINE_METRICS)]
    for key, rows in headline.groupby("grouping", sort=False):
        wide = rows.pivot_table(index="group", columns="metric", values="value", sort=False,
                                dropna=False)
        wide.insert(0, "n", rows.groupby("group", sort=False)["n_group"].first())
        columns = ["n"] + [m for m in compact if m in wide.columns]
        lines += ["", f"By {key.replace('_x_', ' x ')}", _table(wide[columns])]
    if len(evaluation.gaps):
        gaps = evaluation.gaps.set_index(["grouping", "metric"])[
            ["worst_group", "worst", "n_worst", "best_group", "best", "n_best", "difference", "ratio"]]
        lines += ["", f"Gaps (groups with n >= {evaluation.settings.get('gap_min_n')})", _table(gaps)]
    for head in CLASS_HEADS:
        matrix = evaluation.confusion[head]
        if matrix.n:
            frame = pd.DataFrame(matrix.counts, index=matrix.labels, columns=matrix.labels)
            lines += ["", f"Confusion {head} (rows true, columns predicted)", frame.to_string()]
    return "\n".join(lines)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
