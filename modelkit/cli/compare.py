"""`python -m modelkit compare RUN_A RUN_B [RUN_C ...] [--split test | --on SET] [--n-boot N] [--json]`.

Did the change work? The first run is the baseline; each other run is compared with it
on the images both evaluated: every figure overall and per group of gender, race and
age group, the difference (other - baseline) with a paired bootstrap interval (the
same resampled images for both runs), the gaps between groups, and per-group
calibration (ECE, Brier). Runs are ids under the runs root (outside models by their
name) or folders. ``--on SET`` compares the runs' evaluation sets of that name (made
by ``predict --name SET``) instead of their own test split. ``--json``
prints one object (shape in docs/CONTRACTS.md, "Comparing runs").
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from modelkit import labels
from modelkit.evaluate.compare.runs import DEFAULT_N_BOOT


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare runs on the same faces, per group, with paired intervals",
                       description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run ids (under the runs root) or run folders; the first is the baseline")
    p.add_argument("--split", choices=[s for s in labels.SPLITS if s != "train"], default="test",
                   help="evaluation split (default: test)")
    p.add_argument("--on", metavar="SET", help="compare the runs' evaluation sets named SET "
                   "(`predict --run-dir R ... --name SET`), e.g. fairface")
    p.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT,
                   help=f"paired bootstrap resamples per group (default {DEFAULT_N_BOOT}; 0: no intervals)")
    p.add_argument("--ci", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed")
    p.add_argument("--gap-min-n", type=int, default=5,
                   help="groups with fewer faces are left out of the gaps (default 5)")
    p.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelkit.evaluate.compare.runs import compare

    if len(args.runs) < 2:
        raise ValueError(f"compare needs two or more runs (the baseline first); got {args.runs}")
    runs, split = args.runs, args.split
    if args.on:
        from modelkit.prediction.evalsets import EVAL_SPLIT, eval_set_ref

        runs = [eval_set_ref(r, args.on, runs_root=args.runs_root) for r in args.runs]
        split = EVAL_SPLIT
    result = compare(runs, split=split, n_boot=args.n_boot, ci=args.ci, seed=args.seed,
                     gap_min_n=args.gap_min_n, runs_root=args.runs_root)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, allow_nan=False, default=str))
    else:
        print(format_report(result))
    return 0


def format_report(result) -> str:
    """The readable report: per compared run, what differs, the overall figures, the
    gaps, per-group calibration and the changes whose interval excludes 0."""
    settings = result.settings
    ci = f"{round(100 * settings['ci'])}%"
    from modelkit.prediction.evalsets import is_eval_set

    where = (f"on {result.baseline.run_dir.name}" if is_eval_set(result.baseline.run_dir)
             else f"split {result.split}")
    lines = [f"baseline {result.baseline.id}  {where}  n={result.n_baseline}",
             f"intervals: {ci} paired bootstrap of (other - baseline), {settings['n_boot']} "
             f"resamples of the shared faces within each group; * = the interval excludes 0"]
    for entry in result.not_comparable:
        lines.append(f"not comparable: {entry['id']}: {entry['reason']}")
    for pair in result.pairs:
        lines += ["", f"=== {pair.id} vs {result.baseline.id}: {pair.n_shared} shared faces "
                      f"({result.baseline.id} {pair.n_baseline}, {pair.id} {pair.n_other})"]
        differences = pair.config_differences
        lines.append("settings that differ: " + (", ".join(
            f"{k} {a!r} -> {b!r}" for k, (a, b) in differences.items()) or "none"))
        lines += [f"note: {n}" for n in pair.notes] + [f"left out: {n}" for n in pair.left_out]
        figures = result.figures[result.figures["run"] == pair.id]
        overall = figures[figures["grouping"] == "overall"].set_index("metric")
        lines += ["", "Overall", _table(_shown(overall, ["n", "baseline", "other"]))]
        gaps = result.gaps[result.gaps["run"] == pair.id]
        if len(gaps):
            gap_table = gaps.assign(baseline=gaps["baseline_gap"], other=gaps["other_gap"],
                                    baseline_groups=gaps["baseline_best"] + " > " + gaps["baseline_worst"],
                                    other_groups=gaps["other_best"] + " > " + gaps["other_worst"])
            gap_table = gap_table.set_index(["grouping", "metric"])
            lines += ["", f"Gaps: best - worst group (groups with n >= {settings['gap_min_n']}; "
                          "best > worst)",
                      _table(_shown(gap_table, ["n_groups", "baseline", "baseline_groups", "other",
                                                "other_groups"]))]
        calibration = figures[figures["metric"].str.endswith("_ece")
                              & (figures["grouping"] != "overall")]
        if len(calibration):
            lines += ["", "Per-group calibration error (ECE of the top-class confidence)",
                      _table(_shown(calibration.set_index(["grouping", "group", "metric"]),
                                    ["n", "baseline", "other"]))]
        significant = result.significant(run=pair.id)
        lines += ["", f"Changes whose {ci} interval excludes 0 ({len(significant)}, largest first)"]
        if len(significant):
            shown = significant.assign(change=significant["better"].map({True: "better", False: "worse"}))
            lines.append(_table(_shown(shown.set_index(["grouping", "group", "metric"]),
                                       ["n", "baseline", "other"], extra=["change"])))
        else:
            lines.append("none")
    return "\n".join(lines)


def _shown(table: pd.DataFrame, columns: list[str], *, extra: list[str] = ()) -> pd.DataFrame:
    """``columns``, the signed difference and its interval as ``[low, high]``, a star."""
    out = table[columns].copy()
    out["difference"] = table["difference"].map(lambda v: "-" if pd.isna(v) else f"{v:+.3f}")
    out["interval"] = [("-" if pd.isna(lo) else f"[{lo:+.3f}, {hi:+.3f}]")
                       for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)]
    out[""] = table["excludes_zero"].map(lambda v: "*" if v else "")
    for column in extra:
        out[column] = table[column]
    return out


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
