"""The embedded default dataset: cartoon faces drawn from their labels.

No download and no real people: ``synthetic_root()`` draws ~10,000 faces on first use
(about 15 s on one core) into ``cache_dir()/synthetic-<n>-<seed>/`` with a
``labels.csv`` (``path, age, gender, race``), and reuses the folder afterwards.

Each face's look follows its labels (race: skin, hair and iris colours; gender: hair,
jaw, beard, lips; age: proportions, wrinkles, grey hair), with overlapping noise and a
random pose, light and background: ``modelkit.data.synthetic.drawing`` draws it. Ages
are drawn imbalanced like UTKFace: many 20-39, few 0-2 and 70+.

The set is a pure function of (n, seed): same seed, same labels and same pixels.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.data.synthetic.drawing import draw_face
from modelkit.paths import cache_dir

DEFAULT_N = 10_000
# Share of each age group (labels.AGE_GROUPS order), shaped like UTKFace's histogram.
AGE_GROUP_SHARES = (0.03, 0.06, 0.08, 0.30, 0.22, 0.11, 0.10, 0.06, 0.04)
GENDER_SHARES = (0.52, 0.48)
RACE_SHARES = (0.42, 0.19, 0.15, 0.17, 0.07)

def default_n() -> int:
    """Size of the default set: ``$FACESCOPE_SYNTHETIC_N`` (tests set it small), else 10,000."""
    value = os.environ.get("FACESCOPE_SYNTHETIC_N")
    if not value:
        return DEFAULT_N
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"FACESCOPE_SYNTHETIC_N must be a positive integer, got {value!r}")
    return int(value)


def synthetic_root(*, n: int | None = None, seed: int = 0) -> Path:
    """The folder of the synthetic set (``labels.csv`` + ``images/``), drawn on first use.

    Generation goes into a temporary folder renamed into place at the end, so a killed
    generation never leaves a half set, and two processes racing both end up reading
    one complete set.
    """
    n = default_n() if n is None else n
    target = cache_dir() / f"synthetic-{n}-{seed}"
    if (target / "labels.csv").is_file():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".synthetic-{n}-{seed}-", dir=cache_dir()))
    try:
        generate_synthetic(tmp, n=n, seed=seed)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "labels.csv").is_file():
                raise  # not a lost race with another process: a real failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def generate_synthetic(out_dir: str | os.PathLike, *, n: int, seed: int,
                       size_range: tuple[int, int] = (64, 128)) -> Path:
    """Draw ``n`` faces into ``out_dir/images/`` and write ``out_dir/labels.csv``.

    Args:
        out_dir: folder to fill (created if missing).
        n: number of faces.
        seed: the whole set (labels, sizes, pixels) is a function of (n, seed).
        size_range: inclusive range of the square image side in pixels.

    Returns:
        ``out_dir`` as a Path.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    low, high = size_range
    if not 8 <= low <= high:
        raise ValueError(f"size_range must be (low, high) with 8 <= low <= high, got {size_range}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    table = sample_labels(n=n, seed=seed)
    sizes = np.random.default_rng([seed, 1]).integers(low, high + 1, size=n)
    paths = []
    for i, row in enumerate(table.itertuples(index=False)):
        rng = np.random.default_rng([seed, 2, i])
        image = draw_face(rng, age=row.age, gender=row.gender, race=row.race, size=int(sizes[i]))
        name = f"images/{i:05d}.jpg"
        image.save(out / name, format="JPEG", quality=90)
        paths.append(name)
    table.insert(0, "path", paths)
    table.to_csv(out / "labels.csv", index=False)
    return out


def sample_labels(*, n: int, seed: int) -> pd.DataFrame:
    """Draw ``n`` (age, gender, race) rows: ages 1..100 imbalanced like UTKFace."""
    rng = np.random.default_rng([seed, 0])
    groups = rng.choice(len(labels.AGE_GROUPS), size=n, p=AGE_GROUP_SHARES)
    low = np.array(labels.AGE_GROUP_EDGES)[groups]
    high = np.append(labels.AGE_GROUP_EDGES[1:], 101)[groups]
    age = rng.integers(np.maximum(low, 1), high)  # uniform inside the group, 1 at least
    # 70+ thins out with age as in the real sets: 70 plus an exponential tail up to 100.
    old = groups == len(labels.AGE_GROUPS) - 1
    age[old] = np.minimum(70 + rng.exponential(8.0, size=old.sum()).astype(int), 100)
    gender = rng.choice(labels.GENDERS, size=n, p=GENDER_SHARES)
    race = rng.choice(labels.SYNTHETIC_RACES, size=n, p=RACE_SHARES)
    return pd.DataFrame({"age": age.astype(int), "gender": gender, "race": race})
