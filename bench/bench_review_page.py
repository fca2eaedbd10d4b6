"""Time the Review page with 20,000 suspects per head.

    .venv/bin/python bench/bench_review_page.py [--rows 20000] [--repeats 5]

Builds a ranked run folder in a temporary runs root: ``suspects.parquet`` with
``--rows`` rows per attribute (gender, race, age), each pointing at its own symlink to
a real UTKFace face (so every card draws a real picture), random scores, 10 % flagged.
Renders ``pages/review.py`` with AppTest (the server's script run; not the browser's
drawing) and prints the first load, then the median and range over interleaved
passes of: the same inputs, a decision (Keep on the first card, then its Undo), the
head changed, the next page, a group filter.
"""

from __future__ import annotations

import argparse
import json
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
from modelkit.curation import ranking  # noqa: E402
from modelkit.curation.suspects import SUSPECT_COLUMNS  # noqa: E402


def fake_run(base: Path, *, rows: int, faces: Path, seed: int = 0) -> Path:
    """A run folder the page takes for a ranked, finished run."""
    rng = np.random.default_rng(seed)
    images = sorted(faces.glob("*.jpg"))
    links = base / "faces"
    links.mkdir(parents=True)
    paths = []
    for i in range(rows):
        link = links / f"{i:05d}_{images[i % len(images)].name}"
        link.symlink_to(images[i % len(images)])
        paths.append(str(link))
    run = base / "runs" / "bench-run"
    run.mkdir(parents=True)
    (run / ranking.MODEL_FILE).write_bytes(b"placeholder: the page never loads the model")
    races = list(labels.UTKFACE_RACES)
    (run / ranking.CONFIG_FILE).write_text(json.dumps({"source": "utkface", "root": str(links),
                                                       "race_classes": races}))
    parts = []
    for attribute, vocabulary in (("gender", labels.GENDERS), ("race", races),
                                  ("age", [str(a) for a in range(1, 90)])):
        part = pd.DataFrame({"path": paths, "split": rng.choice(labels.SPLITS, rows),
                             "attribute": attribute, "given": rng.choice(vocabulary, rows),
                             "suggested": rng.choice(vocabulary, rows),
                             "confidence": rng.random(rows), "score": rng.random(rows),
                             "is_issue": rng.random(rows) < 0.1,
                             "gender": rng.choice(labels.GENDERS, rows), "race": rng.choice(races, rows),
                             "age_group": rng.choice(labels.AGE_GROUPS, rows),
                             "age": rng.integers(1, 90, rows).astype(float)})
        part = part.sort_values("score").reset_index(drop=True)
        part.insert(0, "rank", np.arange(1, rows + 1))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)[list(SUSPECT_COLUMNS)]
    meta = {"run_id": run.name, "source": "utkface", "root": str(links), "n_images": rows,
            "folds": 5, "race_classes": races, "model_mtime": (run / ranking.MODEL_FILE).stat().st_mtime,
            "seconds": {"total": 0.0}, "issues": table.groupby("attribute")["is_issue"].sum().to_dict()}
    ranking.write_suspects(run, table, meta)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="suspects per head")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--faces", default=str(REPO.parent / "shared" / "data" / "utkface_sample"))
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    from dashboard.review_cards import card_key

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["FACESCOPE_RUNS_ROOT"] = str(base / "runs")
        os.environ.setdefault("FACESCOPE_CACHE_DIR", str(base / "cache"))
        run = fake_run(base, rows=args.rows, faces=Path(args.faces))
        load = os.getloadavg()
        at = AppTest.from_file(str(REPO / "pages" / "review.py"), default_timeout=300)
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(at.exception[0].value)
        table = pd.read_parquet(run / ranking.SUSPECTS_FILE)
        top = table[(table["attribute"] == "gender") & table["is_issue"]].sort_values("score").iloc[0]
        row_id = os.path.relpath(top["path"], str(base / "faces")) + "\x00gender"
        key = card_key(row_id)

        def baseline():
            """Head gender, page 1, no group filter (not timed)."""
            at.radio(key="review_head").set_value("gender")
            at.number_input(key="review_page").set_value(1)
            at.multiselect(key="review_group_gender").set_value([])
            at.run()

        def step(name):
            if name == "decision (Keep, then Undo)":
                at.button(key=f"review_keep_{key}").click().run()
                at.button(key=f"review_undo_{key}").click()
            elif name == "head changed":
                at.radio(key="review_head").set_value("race")
            elif name == "next page":
                at.number_input(key="review_page").set_value(2)
            elif name == "group filter":
                at.multiselect(key="review_group_gender").set_value(["female"])

        names = ("same inputs", "decision (Keep, then Undo)", "head changed", "next page", "group filter")
        times = {n: [] for n in names}
        for _ in range(args.repeats):
            for name in names:  # interleaved passes
                baseline()
                start = time.perf_counter()
                step(name)
                at.run()
                elapsed = time.perf_counter() - start
                if at.exception:
                    raise RuntimeError(at.exception[0].value)
                times[name].append(elapsed / (2 if name.startswith("decision") else 1))
        print(f"{args.rows:,} suspects per head ({len(table):,} rows); load {load} -> {os.getloadavg()}")
        print(f"first load: {first:.2f} s")
        for name, values in times.items():
            print(f"{name}: median {statistics.median(values):.2f} s "
                  f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})")


if __name__ == "__main__":
    main()
