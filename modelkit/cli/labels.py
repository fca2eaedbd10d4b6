"""`python -m modelkit labels {rank,suspects,review,decisions}`: suspect labels.

    python -m modelkit labels rank --run-dir R                 # writes R/suspects.parquet
    python -m modelkit labels rank --run-dir R --background    # queued behind any training run
    python -m modelkit labels suspects --run-dir R --head age --top 20 [--json]
    python -m modelkit labels review --run-dir R --path P --attribute gender --set male
    python -m modelkit labels review --source utkface --root DIR --path P --attribute age --exclude
    python -m modelkit labels decisions --run-dir R [--json]

Decisions go to the dataset's corrections file (``<runs root>/corrections/...``, or
``--corrections FILE``), never to the dataset; ``train --corrections FILE`` applies them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from modelkit.curation.corrections import CORRECTABLE
from modelkit.curation.suspects import DEFAULT_FOLDS
from modelkit.labels import HEADS

HEAD_CHOICES = (*HEADS, "all")


def add_parser(sub) -> None:
    p = sub.add_parser("labels", help="rank suspect labels, record and list decisions",
                       description=__doc__.splitlines()[0])
    actions = p.add_subparsers(dest="labels_command", required=True)

    rank = actions.add_parser("rank", help="embed, cross-validate and rank a run's labels")
    rank.add_argument("--run-dir", help="a finished run (holds model.keras)")
    rank.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="K of the K-fold cross-validation")
    rank.add_argument("--seed", type=int, default=0)
    rank.add_argument("--background", action="store_true",
                      help="queue the ranking as a background job (one job at a time: it "
                           "waits for a training run) and print the job's id")
    rank.add_argument("--config", help="a rank job's job.json (the queue's supervisor passes it)")
    rank.add_argument("--job-dir", help="the job folder to report to (with --config)")
    rank.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")
    rank.add_argument("--json", action="store_true", help="print how it went as JSON")
    rank.set_defaults(func=run_rank)

    show = actions.add_parser("suspects", help="the ranked table, most suspicious first")
    show.add_argument("--run-dir", required=True)
    show.add_argument("--head", choices=HEAD_CHOICES, default="all")
    show.add_argument("--top", type=int, default=20, help="rows to print (0: all)")
    show.add_argument("--issues-only", action="store_true", help="only rows flagged as issues")
    show.add_argument("--rerank", action="store_true", help="rank again even if already ranked")
    show.add_argument("--json", action="store_true", help="print a JSON list of rows")
    show.set_defaults(func=run_suspects)

    review = actions.add_parser("review", help="record one decision on one label")
    _dataset_arguments(review)
    review.add_argument("--path", required=True, help="the image (absolute or relative to the root)")
    review.add_argument("--attribute", required=True, choices=CORRECTABLE)
    what = review.add_mutually_exclusive_group(required=True)
    what.add_argument("--keep", action="store_true", help="the label is right")
    what.add_argument("--set", dest="value", help="the right label (age: years)")
    what.add_argument("--exclude", action="store_true", help="leave the image out of training")
    what.add_argument("--undo", action="store_true", help="withdraw the last decision on it")
    review.add_argument("--note", default=None)
    review.add_argument("--json", action="store_true")
    review.set_defaults(func=run_review)

    decisions = actions.add_parser("decisions", help="the standing decisions of a dataset")
    _dataset_arguments(decisions)
    decisions.add_argument("--json", action="store_true")
    decisions.set_defaults(func=run_decisions)


def _dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", help="take the dataset from this run's config.json")
    p.add_argument("--source", help="or name the dataset: source (utkface, fairface, ...)")
    p.add_argument("--root", help="the dataset folder")
    p.add_argument("--labels", help="the labels file (csv, fairface, imdbwiki)")
    p.add_argument("--corrections", help="the corrections file (default: the dataset's own "
                   "under <runs root>/corrections/)")
    p.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")


# ------------------------------------------------------------------------------ rank
def run_rank(args: argparse.Namespace) -> int:
    from modelkit.curation import rank_jobs, ranking

    if bool(args.config) != bool(args.job_dir) or not (args.run_dir or args.config):
        raise ValueError("labels rank takes --run-dir R (or --config JOB.json with --job-dir DIR, "
                         "as the queue runs it)")
    if args.background:
        job = rank_jobs.start_ranking(args.run_dir, folds=args.folds, seed=args.seed,
                                      runs_root=args.runs_root)
        print(json.dumps({"id": job.id, "state": job.state}) if args.json else job.id)
        return 0
    if args.job_dir:
        settings = json.loads(Path(args.config).read_text())
        result = rank_jobs.run_job(settings, job_dir=args.job_dir)
        args.run_dir = settings["run_dir"]
    else:
        result = ranking.rank_run(args.run_dir, folds=args.folds, seed=args.seed)
    meta = result.meta
    if args.json:
        print(json.dumps(meta, indent=1))
    else:
        issues = ", ".join(f"{a} {n:,}" for a, n in meta["issues"].items())
        print(f"ranked {meta['n_images']:,} images in {meta['seconds']['total']:.1f} s "
              f"(embed {meta['seconds']['embed']:.1f} s, cross-validation + cleanlab "
              f"{meta['seconds']['rank']:.1f} s); flagged: {issues}")
        print(ranking.suspects_path(args.run_dir))
    return 0


def run_suspects(args: argparse.Namespace) -> int:
    from modelkit.curation import rank_jobs, ranking, suspects

    if args.top < 0:
        raise ValueError(f"--top must be 0 or more, got {args.top}")
    state = rank_jobs.ranking_state(args.run_dir)
    if args.rerank or state.state in ("none", "stale", "failed"):
        print(f"ranking {args.run_dir} ({state.message or 'again'})...", file=sys.stderr)
        table = ranking.rank_run(args.run_dir).table
    else:
        table = ranking.read_suspects(args.run_dir)
    rows = suspects.select(table, head=args.head, top=args.top or None, issues_only=args.issues_only)
    if args.json:
        print(json.dumps(rows.drop(columns=["age"]).to_dict(orient="records"), indent=1))
    else:
        shown = rows[["attribute", "given", "suggested", "confidence", "score", "is_issue", "path"]]
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.3f}") if len(rows)
              else "no suspects")
    return 0


# ---------------------------------------------------------------------------- decisions
def _dataset_and_file(args: argparse.Namespace):
    """The dataset the flags name and its corrections file."""
    from modelkit.config import TrainConfig
    from modelkit.curation import corrections, ranking
    from modelkit.data import load_dataset

    if args.run_dir:
        if args.source:
            raise ValueError("give --run-dir or --source/--root, not both")
        config = TrainConfig.from_dict(ranking.run_config(args.run_dir))
        source, root, labels_file = config.source, config.root, config.labels
    elif args.source:
        source, root, labels_file = args.source, args.root, args.labels
    else:
        raise ValueError("name the dataset: --run-dir R, or --source S --root DIR")
    dataset = load_dataset(source, root=root, labels=labels_file)
    file = Path(args.corrections) if args.corrections else corrections.corrections_path(
        source=source, root=root, labels_file=labels_file, runs_root=args.runs_root)
    return dataset, file


def run_review(args: argparse.Namespace) -> int:
    from modelkit.curation import corrections

    dataset, file = _dataset_and_file(args)
    manifest = dataset.manifest
    path = Path(args.path).expanduser()
    key = corrections.relative_path(path.resolve() if path.is_absolute() else path, root=dataset.root)
    keys = [corrections.relative_path(p, root=dataset.root) for p in manifest["path"].astype(str)]
    if key not in keys:
        raise ValueError(f"no image {args.path!r} in the {dataset.source} dataset at {dataset.root} "
                         f"({len(keys):,} images); give its path as listed by `labels suspects`")
    given = manifest.iloc[keys.index(key)][args.attribute]
    action = "keep" if args.keep else "exclude" if args.exclude else "undo" if args.undo else "set"
    decision = corrections.record_decision(
        file, path=key, attribute=args.attribute, action=action, value=args.value,
        given=None if pd.isna(given) else given, note=args.note,
        race_classes=dataset.race_classes, root=dataset.root,
        runs_root=getattr(args, "runs_root", None))
    if args.json:
        print(json.dumps({"file": str(file), **decision.to_dict()}))
    else:
        print(f"{decision.action} {decision.attribute} of {decision.path}"
              + (f" -> {decision.value}" if decision.action == "set" else "") + f"  ({file})")
    return 0


def run_decisions(args: argparse.Namespace) -> int:
    from modelkit.curation import corrections
    from modelkit.curation.apply import apply_corrections

    dataset, file = _dataset_and_file(args)
    standing = corrections.latest_decisions(corrections.read_decisions(file))
    _, report = apply_corrections(dataset, file=file) if file.is_file() else (None, None)
    rows = [d.to_dict() for d in standing.values()]
    if args.json:
        print(json.dumps({"file": str(file), "decisions": rows,
                          "report": report.to_dict() if report else None}, indent=1))
        return 0
    print(f"{file}: {len(rows):,} standing decisions"
          + (f"; {report.summary()}" if report else ""))
    for d in rows:
        print(f"  {d['action']:<8}{d['attribute']:<10}{d['path']}"
              + (f" -> {d['value']}" if d["action"] == "set" else ""))
    return 0
