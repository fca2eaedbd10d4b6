"""Tiny datasets in each source's real layout, for tests.

Images are 16-32 px so a few dozen write and scan in well under a second. Every
helper returns what ``load_dataset`` needs (a root, and a label file where the
source has one) and takes the rows to write, so a test can state its expectation
from the same rows it wrote. tests/conftest.py's session fixture
``tiny_synthetic_root`` is one ``make_tiny_synthetic`` set for the whole session.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from modelkit import labels
from modelkit.data.manifest import Dataset, assign_splits, build_manifest
from modelkit.data.synthetic.generate import generate_synthetic
from tests.helpers.images import write_image


def make_tiny_synthetic(tmp_path: Path, n: int = 40, *, seed: int = 0) -> Path:
    """A synthetic-set folder (``labels.csv`` + ``images/``) of ``n`` 24-32 px faces;
    load it with ``load_dataset("synthetic", root=...)``. About 2 ms a face."""
    return generate_synthetic(Path(tmp_path) / f"synthetic-{n}-{seed}", n=n, seed=seed,
                              size_range=(24, 32))


UTKFACE_ROWS = [  # (age, gender code, race code)
    (1, 0, 0), (25, 1, 2), (25, 0, 1), (34, 1, 3), (61, 0, 4), (80, 1, 0), (8, 0, 2), (45, 1, 1),
]


def utkface_name(age, gender, race, *, stamp: str = "20170116174525125") -> str:
    return f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg"


def make_tiny_utkface(root: Path, rows=UTKFACE_ROWS) -> Path:
    """A UTKFace folder with one image per (age, gender, race) row."""
    root.mkdir(parents=True, exist_ok=True)
    for i, (age, gender, race) in enumerate(rows):
        write_image(root / utkface_name(age, gender, race, stamp=f"2017011617452{i:04d}"),
                    seed=i, format="JPEG")
    return root


FAIRFACE_ROWS = {  # split -> (age range, gender, race)
    "train": [("20-29", "Male", "White"), ("more than 70", "Female", "East Asian"),
              ("0-2", "Female", "Black"), ("30-39", "Male", "Latino_Hispanic")],
    "val": [("3-9", "Male", "Indian"), ("60-69", "Female", "Middle Eastern")],
}


def make_tiny_fairface(root: Path, rows: dict = FAIRFACE_ROWS) -> Path:
    """FairFace's layout: ``fairface_label_{train,val}.csv`` beside ``train/``, ``val/``."""
    root.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        records = []
        for i, (age, gender, race) in enumerate(split_rows, start=1):
            write_image(root / split / f"{i}.jpg", seed=i, format="JPEG")
            records.append({"file": f"{split}/{i}.jpg", "age": age, "gender": gender,
                            "race": race, "service_test": "False"})
        pd.DataFrame(records).to_csv(root / f"fairface_label_{split}.csv", index=False)
    return root


def matlab_datenum(day: date) -> float:
    """MATLAB's serial date number for ``day`` (what IMDB-WIKI's ``dob`` holds)."""
    return float(day.toordinal() + 366)


def make_tiny_imdbwiki(root: Path, rows: list[dict], *, name: str = "wiki") -> Path:
    """``root/<name>.mat`` plus the images it lists. Each row: ``dob`` (date),
    ``photo_taken`` (year), ``gender`` (1, 0 or nan), optional ``face_score``
    (default 3.0) and ``second_face_score`` (default nan)."""
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, _ in enumerate(rows):
        rel = f"{i:02d}/img_{i}.jpg"
        write_image(root / rel, seed=i, format="JPEG")
        paths.append(rel)
    meta = {
        "dob": np.array([[matlab_datenum(r["dob"]) for r in rows]]),
        "photo_taken": np.array([[r["photo_taken"] for r in rows]], dtype=float),
        "full_path": np.array([paths], dtype=object),
        "gender": np.array([[r["gender"] for r in rows]], dtype=float),
        "face_score": np.array([[r.get("face_score", 3.0) for r in rows]], dtype=float),
        "second_face_score": np.array([[r.get("second_face_score", np.nan) for r in rows]], dtype=float),
    }
    savemat(root / f"{name}.mat", {name: meta})
    return root


def make_tiny_csv(root: Path, rows: list[dict], *, name: str = "labels.csv") -> Path:
    """A generic CSV at ``root/name`` (columns from the row dicts); each row's ``path``
    gets a tiny image unless the row says ``"_image": False``. Returns the CSV path."""
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for i, row in enumerate(rows):
        row = dict(row)
        if row.pop("_image", True):
            write_image(root / row["path"], seed=i, format="PNG" if row["path"].endswith(".png") else "JPEG")
        records.append(row)
    csv = root / name
    pd.DataFrame(records).to_csv(csv, index=False)
    return csv


def tiny_dataset(folder, *, n=48, with_race=True) -> Dataset:
    """``n`` 32px faces-to-be: colour depends on gender, so there is something to learn."""
    rng = np.random.default_rng(0)
    gender = rng.choice(labels.GENDERS, n)
    paths = []
    for i in range(n):
        colour = (200, 60, 60) if gender[i] == "male" else (60, 60, 200)
        pixels = np.clip(np.array(colour) + rng.normal(0, 20, (32, 32, 3)), 0, 255)
        paths.append(str(folder / f"face_{i:03d}.png"))
        Image.fromarray(pixels.astype("uint8")).save(paths[-1])
    frame = pd.DataFrame({"path": paths, "age": rng.integers(1, 80, n).astype(float),
                          "gender": gender})
    if with_race:
        frame["race"] = rng.choice(list(labels.UTKFACE_RACES), n)
    manifest = assign_splits(build_manifest(frame, race_classes=list(labels.UTKFACE_RACES)), seed=0)
    return Dataset(manifest=manifest, source="csv", root=str(folder))
