"""`python -m modelkit predict`: a run's model on another dataset, kept as an evaluation set.

    python -m modelkit predict --run-dir runs/abc --source fairface --root ../shared/data/fairface_sample
    python -m modelkit evaluate --run-dir runs/abc --on fairface
    python -m modelkit predict --run-dir runs/abc --image group.jpg --json    # each face found

Every usable image of the dataset is predicted (bad ones are skipped with their
reasons, as for training) through the training pipeline's decoder; the rows go to
``<run>/eval/<NAME>/predictions.parquet`` with ``eval.json`` beside them (docs/CONTRACTS.md,
"Evaluation sets"). ``--config FILE`` takes the settings from a JSON file instead of
flags (what a background job from the Evaluate page is handed, with ``--job-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys

from modelkit.cli.progress import ProgressBar
from modelkit.config import SOURCES

SHOWN_SKIPS = 10


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict with a run's model on another dataset",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", help="the run folder (holds model.keras)")
    p.add_argument("--source", choices=SOURCES, help="the dataset's kind")
    p.add_argument("--root", help="the dataset folder")
    p.add_argument("--labels", help="labels file (FairFace CSV, IMDB-WIKI .mat, generic CSV)")
    p.add_argument("--limit", type=_positive, help="a seeded random subset of N images")
    p.add_argument("--name", help="the evaluation set's name (default: the source)")
    p.add_argument("--batch-size", type=_positive, default=64, help="images per model call")
    p.add_argument("--config", help="a JSON file of predict settings instead of the flags")
    p.add_argument("--job-dir", help=argparse.SUPPRESS)  # the background job's folder
    p.add_argument("--json", action="store_true", help="print eval.json (with --image: the "
                   "faces and their predictions) as one JSON object")
    p.add_argument("--align", action="store_true", default=None,
                   help="detect and align each face first (loosely cropped sets, e.g. FairFace)")
    p.add_argument("--image", help="a photo: predict every face found in it (with its box), "
                   "instead of a dataset")
    p.set_defaults(func=run)


def request_from_args(args: argparse.Namespace):
    """The :class:`~modelkit.prediction.PredictRequest` the flags (or ``--config``) ask for.

    Raises:
        ValueError: ``--config`` mixed with dataset flags, or a flag missing.
    """
    from modelkit.prediction import PredictRequest

    flags = {"run_dir": args.run_dir, "source": args.source, "root": args.root,
             "labels": args.labels, "limit": args.limit, "name": args.name,
             "align": args.align}
    if args.config:
        given = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
        if given:
            raise ValueError(f"--config holds the settings; leave out {', '.join(given)}")
        return PredictRequest.load(args.config)
    missing = [f"--{k.replace('_', '-')}" for k in ("run_dir", "source") if flags[k] is None]
    if missing:
        raise ValueError(f"predict needs {' and '.join(missing)} (or --config FILE); "
                         "e.g. --run-dir runs/abc --source fairface --root DIR")
    return PredictRequest(**{**flags, "align": bool(args.align)}, batch_size=args.batch_size)


def run(args: argparse.Namespace) -> int:
    if args.image:
        return _photo(args)
    request = request_from_args(args)
    if args.job_dir:
        from modelkit.prediction.job import run_job

        result = run_job(request, job_dir=args.job_dir)
        if result is None:
            print("prediction cancelled", file=sys.stderr)
            return 0
    else:
        from modelkit.prediction.dataset import predict_dataset

        result = predict_dataset(request, progress=ProgressBar())
    if args.json:
        print(json.dumps({"eval_dir": str(result.path), **result.info}, indent=2, allow_nan=False))
    else:
        print(format_summary(result))
    return 0


def format_summary(result) -> str:
    """What was written, what was skipped and why, how the labels were compared."""
    info = result.info
    mapping = info["race_mapping"]
    lines = [f"wrote {result.path}: {info['n_images']} images predicted in {info['seconds']:.1f} s "
             f"({info['images_per_s']:.0f}/s), {info['n_skipped']} skipped"]
    lines += [f"  skipped {s['path']}: {s['reason']}" for s in info["skipped"][:SHOWN_SKIPS]]
    if info["n_skipped"] > SHOWN_SKIPS:
        lines.append(f"  ... and {info['n_skipped'] - SHOWN_SKIPS} more (all in eval.json)")
    missing = [h for h in ("gender", "race", "age") if h not in info["trained_heads"]]
    if missing:
        lines.append(f"the model has no {' or '.join(missing)} head: no figures for it")
    if mapping["kind"] == "none":
        if "race" not in missing:
            lines.append("race: the set has no race labels, so there are no race figures")
    elif mapping["kind"] != "identity":
        table = ", ".join(f"{a} -> {b}" for a, b in mapping["table"].items())
        lines.append(f"race compared as {mapping['to']} classes ({mapping['from']} -> "
                     f"{mapping['to']}, on the {mapping['kind']}): {table}")
    if info["age_true_is_midpoint"]:
        lines.append("age: the set gives ranges; age errors are against the range midpoints")
    lines.append(f"evaluate it: python -m modelkit evaluate --run-dir {info['run_dir']} "
                 f"--on {info['name']}")
    return "\n".join(lines)


def _photo(args: argparse.Namespace) -> int:
    """``--image PHOTO``: one result per face found (``modelkit.prediction.photo``; a
    photo's faces are always aligned); exit status 1 when every face found is too small."""
    others = [f"--{k.replace('_', '-')}" for k in ("source", "root", "labels", "limit", "name",
                                                   "config") if getattr(args, k)]
    if others or not args.run_dir:
        raise ValueError("--image predicts the faces of one photo with --run-dir's model; "
                         + (f"leave out {', '.join(others)}" if others else "give --run-dir"))
    from modelkit.prediction.photo import predict_photo_file, summary_lines

    result = predict_photo_file(args.run_dir, args.image)
    print(json.dumps(result, indent=2, allow_nan=False) if args.json
          else "\n".join(summary_lines(result)))
    return 0 if result["n_usable"] else 1
