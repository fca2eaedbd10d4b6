"""Benchmark 3: accuracy on real faces with the default settings, from scratch.

Trains ``python -m modelkit train``'s defaults on the UTKFace sample, once per seed (the
seed also draws the split), each on a fresh image cache as a user's first run, and
reports on each held-out test split gender accuracy, race accuracy and age MAE, then
their mean, standard deviation and range over the seeds, per group too, with each run's
wall clock and the machine's load.

    .venv/bin/python bench/bench_accuracy.py --root ../shared/data/utkface_sample --seeds 0 1 2
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd


def head_scores(frame: pd.DataFrame) -> dict:
    """Gender/race accuracy over labelled rows, age MAE in years, age-group accuracy."""
    def acc(true, pred):
        known = frame[true].notna()
        return float((frame.loc[known, true] == frame.loc[known, pred]).mean())
    return {"n": len(frame), "gender_acc": acc("gender_true", "gender_pred"),
            "race_acc": acc("race_true", "race_pred"),
            "age_mae": float((frame["age_true"] - frame["age_pred"]).abs().mean()),
            "age_group_acc": acc("age_group_true", "age_group_pred")}


def per_group(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for attribute in ("gender_true", "race_true", "age_group_true"):
        for value, part in frame.groupby(attribute, observed=True):
            rows.append({"attribute": attribute.removesuffix("_true"), "group": value,
                         **head_scores(part)})
    return pd.DataFrame(rows)


def train_one(args, seed: int) -> tuple[Path, float]:
    """One run of the defaults with ``seed`` on a fresh image cache; its folder and wall
    clock (the cache is deleted after)."""
    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="utkface", root=args.root, seed=seed, limit=args.limit,
                         **({"backbone": args.backbone} if args.backbone else {}),
                         **({"precision": args.precision} if args.precision else {}),
                         **dict(args.set or ()))
    if args.epochs:
        config.epochs = args.epochs
    run_dir = Path(args.runs_dir or tempfile.mkdtemp(prefix="bench-accuracy-")) / f"seed-{seed}"
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-cache-") as cache:
        if not args.warm_cache:
            os.environ["FACESCOPE_CACHE_DIR"] = cache
        load_before, start = os.getloadavg(), time.time()
        train(config, run_dir=run_dir, verbose=2)
        wall = time.time() - start
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [round(e["images_per_s"]) for e in epochs if e["type"] == "epoch"]
    print(f"seed {seed}: {run_dir}, {wall:.0f} s ({wall / 60:.1f} min) for {config.epochs} "
          f"epochs, load before {load_before}, after {os.getloadavg()}; train images/s per "
          f"epoch {rates}", flush=True)
    print(f"config: {json.dumps(config.to_dict())}", flush=True)
    return run_dir, wall


def _setting(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON where it parses (numbers, true), else text."""
    key, _, value = item.partition("=")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--runs-dir", default=None, help="where the seed-S run folders go")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="override (default: the CLI's)")
    parser.add_argument("--backbone", default=None, help="override (default: the CLI's)")
    parser.add_argument("--precision", default=None, help="override (default: the CLI's, auto)")
    parser.add_argument("--set", action="append", type=_setting, metavar="KEY=VALUE",
                        help="any other train setting, e.g. freeze_epochs=2 (repeatable)")
    parser.add_argument("--split", default="test", choices=("val", "test"),
                        help="the split scored (val: for choosing a recipe)")
    parser.add_argument("--limit", type=int, default=None, help="use N faces (a quick check)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="reuse the image cache instead of a fresh one per run")
    args = parser.parse_args()

    scores, groups = [], []
    print(f"{os.cpu_count()} cores", flush=True)
    for seed in args.seeds:
        run_dir, wall = train_one(args, seed)
        test = pd.read_parquet(run_dir / "predictions.parquet").query("split == @args.split")
        scores.append({"seed": seed, **head_scores(test), "wall_min": wall / 60})
        groups.append(per_group(test).assign(seed=seed))
        print(f"{args.split} split:", json.dumps({k: round(v, 4) for k, v in scores[-1].items()}), flush=True)
    table = pd.DataFrame(scores).set_index("seed")
    summary = table.agg(["mean", "std", "min", "max"])
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(f"\n{args.split} split, {len(args.seeds)} seed(s):\n{pd.concat([table, summary]).round(4)}")
        by_group = pd.concat(groups).groupby(["attribute", "group"], observed=True)
        print(f"\nper group, mean over the seeds:\n"
              f"{by_group.mean(numeric_only=True).drop(columns='seed').round(3)}")


if __name__ == "__main__":
    main()
