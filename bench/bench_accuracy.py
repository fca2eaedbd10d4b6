"""Benchmark 3: accuracy on real faces with the default settings, from scratch.

Trains ``python -m modelkit train``'s defaults on the UTKFace sample and reports, on
the held-out test split, gender accuracy, race accuracy and age MAE, overall and per
group, with the wall time and the machine's load (the CPU is shared).

    .venv/bin/python bench/bench_accuracy.py --root ../shared/data/utkface_sample
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override (default: the CLI's)")
    args = parser.parse_args()

    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="utkface", root=args.root)
    if args.epochs:
        config.epochs = args.epochs
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="bench-accuracy-"))
    load_before = os.getloadavg()
    start = time.time()
    train(config, run_dir=run_dir, verbose=2)
    wall = time.time() - start
    load_after = os.getloadavg()

    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    test = predictions[predictions["split"] == "test"]
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in epochs if e["type"] == "epoch"]
    print(f"run: {run_dir}")
    print(f"config: {json.dumps(config.to_dict())}")
    print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min) for {config.epochs} epochs; "
          f"train images/s per epoch: {[round(e['images_per_s']) for e in epochs]}")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}, "
          f"cores: {os.cpu_count()}")
    print("test split:", json.dumps({k: round(v, 4) for k, v in head_scores(test).items()}))
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(per_group(test).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
