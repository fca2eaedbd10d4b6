"""Time the Evaluate page on a 20,000-row predictions table.

    .venv/bin/python bench/bench_evaluate_page.py [--rows 20000] [--repeats 5]

Builds a run folder in a temporary runs root, renders pages/evaluate.py with
AppTest (the script run on the server; the browser's drawing is not included), and
prints the first load (reading the table, computing every figure and interval) and
the re-renders that follow: the same inputs, a new group filter, the normalised
toggle, another grouping. The issue asks for re-renders in about a second.
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
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelkit import labels  # noqa: E402
from modelkit.evaluate import PREDICTIONS_FILE  # noqa: E402


def synthetic_predictions(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """A contract-shaped predictions table with a model that is right ~75% of the time."""
    rng = np.random.default_rng(seed)
    races = list(labels.UTKFACE_RACES)
    age = rng.uniform(0, 90, rows)
    age_pred = np.clip(age + rng.normal(0, 6, rows), 0, 100)
    frame = pd.DataFrame({
        "path": [f"/nowhere/{i}.png" for i in range(rows)],
        "split": rng.choice(["val", "test"], rows, p=[0.2, 0.8]),
        "age_true": age, "age_pred": age_pred, "age_true_is_midpoint": False,
    })
    for head, classes, truth in (("gender", labels.GENDERS, None), ("race", races, None),
                                 ("age_group", labels.AGE_GROUPS, age)):
        if truth is None:
            true = rng.choice(classes, rows)
            pred = np.where(rng.random(rows) < 0.75, true, rng.choice(classes, rows))
        else:
            true = np.asarray(labels.age_to_group(age)).astype(object)
            pred = np.asarray(labels.age_to_group(age_pred)).astype(object)
        frame[f"{head}_true"], frame[f"{head}_pred"] = true, pred
        probs = rng.dirichlet(np.ones(len(classes)), rows)
        for j, name in enumerate(classes):
            frame[f"prob_{head}_{name}"] = probs[:, j]
    return frame


def timed(at, step) -> float:
    start = time.perf_counter()
    step(at)
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FACESCOPE_RUNS_ROOT"] = tmp
        os.environ.setdefault("FACESCOPE_CACHE_DIR", str(Path(tmp) / "cache"))
        (Path(tmp) / "bench").mkdir()
        synthetic_predictions(args.rows).to_parquet(Path(tmp) / "bench" / PREDICTIONS_FILE)
        at = AppTest.from_file(str(REPO / "pages" / "evaluate.py"), default_timeout=300)
        first = timed(at, lambda a: None)
        races = ["White", "Black", "Asian", "Indian", "Others"]
        steps = {
            "same inputs": lambda a: None,
            "group filter": None,
            "normalise toggle": lambda a: a.sidebar.toggle(key="evaluate_normalize").set_value(
                not a.sidebar.toggle(key="evaluate_normalize").value),
            "grouping": lambda a: a.selectbox(key="evaluate_grouping").set_value(
                "race_x_gender" if a.selectbox(key="evaluate_grouping").value != "race_x_gender"
                else "race"),
        }
        timed(at, lambda a: a.sidebar.selectbox(key="evaluate_filter_attr").set_value("race"))
        print(f"rows={args.rows}  first load {first:.2f} s (read, all figures, "
              f"{200} bootstrap resamples per group)")
        for name, step in steps.items():
            times = []
            for i in range(args.repeats):
                if step is None:
                    race = races[i % len(races)]
                    times.append(timed(at, lambda a, race=race: a.sidebar.selectbox(
                        key="evaluate_filter_value").set_value(race)))
                else:
                    times.append(timed(at, step))
            print(f"re-render, {name:<16} median {statistics.median(times):.3f} s  "
                  f"max {max(times):.3f} s  (n={len(times)})")


if __name__ == "__main__":
    main()
