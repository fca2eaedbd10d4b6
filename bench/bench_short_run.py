"""Train one synthetic-set run and print its test-split figures beside the trivial answer.

    .venv/bin/python bench/bench_short_run.py NAME '{"limit": 2000, "epochs": 6}' --work /tmp/exp

What docs/BENCHMARKS.md §16 used to choose the demo and to find why short runs of the
default recipe scored worse at age than always answering the median age. The JSON holds
``TrainConfig`` fields (``source`` is ``synthetic``). Prints gender and race accuracy,
age MAE, the MAE of the median answer, and the wall clock of ``train``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from modelkit.config import TrainConfig  # noqa: E402
from modelkit.training.fit import train  # noqa: E402


def test_figures(run_dir: Path) -> str:
    """A run's test-split gender and race accuracy and age MAE, beside the median answer's."""
    table = pd.read_parquet(Path(run_dir) / "predictions.parquet")
    test = table[table["split"] == "test"]
    mae = (test["age_pred"] - test["age_true"]).abs().mean()
    median = (test["age_true"] - test["age_true"].median()).abs().mean()
    return (f"test n {len(test)}, gender {(test['gender_pred'] == test['gender_true']).mean():.3f}, "
            f"race {(test['race_pred'] == test['race_true']).mean():.3f}, age MAE {mae:.2f} "
            f"(median answer {median:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("settings", help="TrainConfig fields as JSON")
    parser.add_argument("--work", default="/tmp/bench_short_runs")
    args = parser.parse_args()
    config = TrainConfig(source="synthetic", **json.loads(args.settings))
    start = time.perf_counter()
    run_dir = train(config, run_dir=Path(args.work) / args.name, verbose=0)
    wall = time.perf_counter() - start
    print(f"{args.name} {args.settings}: {test_figures(run_dir)}, wall {wall:.0f} s")


if __name__ == "__main__":
    main()
