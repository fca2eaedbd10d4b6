"""Time the Dataset page on a FairFace-sized manifest (100,000 rows).

    .venv/bin/python bench/bench_dataset_page.py [--rows 100000] [--repeats 5]
    .venv/bin/python bench/bench_dataset_page.py --imdbwiki /tmp/imdb-scale/imdb-500000/imdb_crop

With ``--imdbwiki DIR`` the page reads an IMDB-WIKI set (bench/make_imdbwiki.py's) instead
of writing a FairFace one; it has no race labels, so the balance changes are gender and
age group.

Writes a FairFace-layout folder of tiny JPEGs in a temporary directory (FairFace's
real label distribution is not reproduced, only its size and columns), then renders
pages/dataset.py with AppTest (the server's script run; the browser's drawing is not
included) and prints: the first load (reading the CSVs, scanning every image once),
a second load in a new session (the on-disk scan cache), and re-renders after
changing the balance attribute, the target and the reuse cap. The issue asks for
about a second per re-render after the first load.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelkit import labels  # noqa: E402
from modelkit.data.sources.readers import FAIRFACE_CSVS  # noqa: E402

FAIRFACE_AGES = [*labels.AGE_GROUPS[:-1], "more than 70"]


def write_fairface(root: Path, rows: int, *, seed: int = 0) -> None:
    """``rows`` 8-px JPEGs (one shared byte string: writing, not encoding, is timed
    by the OS) with FairFace's CSVs, 90% train and 10% val, skewed ages."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    age_p = np.array([2, 10, 11, 30, 22, 12, 7, 4, 2], float)
    frame = pd.DataFrame({
        "age": rng.choice(FAIRFACE_AGES, rows, p=age_p / age_p.sum()),
        "gender": rng.choice(["Male", "Female"], rows),
        "race": rng.choice(labels.FAIRFACE_RACES, rows),
        "service_test": "False",
    })
    split = np.where(np.arange(rows) < int(rows * 0.9), "train", "val")
    frame.insert(0, "file", [f"{s}/{i}.jpg" for i, s in enumerate(split)])
    for name in ("train", "val"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for file in frame["file"]:
        (root / file).write_bytes(jpeg)
    for name, csv in FAIRFACE_CSVS.items():
        frame[split == name].to_csv(root / csv, index=False)


def timed_run(at) -> float:
    start = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imdbwiki", type=Path, help="an IMDB-WIKI folder to read instead")
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source, root = ("imdbwiki", args.imdbwiki.resolve()) if args.imdbwiki else ("fairface", tmp / "fairface")
        os.environ.update(FACESCOPE_CACHE_DIR=str(tmp / "cache"),
                          FACESCOPE_DATA_ROOTS=os.pathsep.join([str(tmp), str(root.parent)]))
        if not args.imdbwiki:
            start = time.perf_counter()
            write_fairface(root, args.rows)
            print(f"wrote {args.rows:,} images in {time.perf_counter() - start:.1f} s")
        balances = ("gender", "age_group") * 2 if args.imdbwiki else ("race", "gender", "joint", "age_group")

        def open_page():
            at = AppTest.from_file(str(REPO / "pages" / "dataset.py"), default_timeout=1800)
            at.run()
            at.selectbox(key="ds_source").set_value(source).run()
            at.text_input(key="ds_root").set_value(str(root))
            return at

        at = open_page()
        first = timed_run(at)
        print(f"first load (scan every image):        {first:6.2f} s")
        at2 = open_page()
        second = timed_run(at2)
        print(f"second session, same server process:   {second:6.2f} s")

        changes = {
            "balance attribute": [("ds_balance", v) for v in balances],
            "reuse cap K": [("ds_k", v) for v in (2, 8, 3, 4)],
            "same inputs (rerun)": [(None, None)] * 4,
        }
        for name, steps in changes.items():
            times = []
            for key, value in steps[: args.repeats]:
                if key == "ds_k":
                    at.slider(key=key).set_value(value)
                elif key:
                    at.selectbox(key=key).set_value(value)
                times.append(timed_run(at))
            print(f"re-render, {name:<24} median {statistics.median(times):5.2f} s, max {max(times):5.2f} s")


if __name__ == "__main__":
    main()
