"""Read FairFace's full-size label files when only some of the images are present.

The real CSVs list 97,698 faces (86,744 train, 10,954 val). This writes CSVs of that size
into a temporary folder: the sample's own rows, then rows drawn from them under the
names of images that are not there, with the sample's train/ and val/ linked beside
them. Then it reads the set three times with ``load_dataset("fairface")`` (the first on a
fresh scan cache) and prints the time, what was kept and skipped, and the peak RSS.

    .venv/bin/python bench/bench_fairface_full.py [--sample ../shared/data/fairface_sample]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FULL_ROWS = {"train": 86_744, "val": 10_954}  # fairface_label_{split}.csv of the real set


def write_full_csvs(sample: Path, root: Path) -> None:
    root.mkdir(parents=True)
    for split, n in FULL_ROWS.items():
        (root / split).symlink_to(sample.resolve() / split)
        have = pd.read_csv(sample / f"fairface_label_{split}.csv")
        extra = have.sample(n - len(have), replace=True, random_state=0).reset_index(drop=True)
        extra["file"] = [f"{split}/{len(have) + 1 + i}.jpg" for i in range(len(extra))]
        pd.concat([have, extra]).to_csv(root / f"fairface_label_{split}.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=REPO.parent / "shared" / "data" / "fairface_sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fairface"
        os.environ["FACESCOPE_CACHE_DIR"] = str(Path(tmp) / "cache")
        write_full_csvs(args.sample, root)
        from modelkit.data import load_dataset

        for label in ("first read (fresh scan cache)", "second read", "third read"):
            start = time.perf_counter()
            data = load_dataset("fairface", root=root)
            reasons = sorted({s.reason for s in data.skipped})
            print(f"{label}: {time.perf_counter() - start:.2f} s, {len(data.manifest):,} kept, "
                  f"{len(data.skipped):,} skipped ({', '.join(reasons)}), peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
                  f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
