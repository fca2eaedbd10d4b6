"""Dataset readers: each source's own layout and label codes -> the manifest.

``load_dataset`` is the one entry point. Each ``read_<source>`` turns a source into a
raw table (absolute ``path``, ``age`` and/or ``age_group``, ``gender``, ``race``,
maybe ``split``) plus the rows it had to leave out and why; ``load_dataset`` then
takes the ``limit`` subset, scans the images (dropping unusable ones, pointing odd
formats at converted copies), types the table with ``build_manifest`` and fills the
missing splits with ``assign_splits``.

Label errors a user must fix (a CSV without a ``path`` column, a gender of ``x``)
raise ``ValueError`` naming the file, row and column. Problems with single images
(missing, empty, truncated, a UTKFace name without a race) skip that image with a
reason and keep the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels as vocab  # ``labels`` is a parameter name in every reader
from modelkit.config import SOURCES
from modelkit.data.manifest import Dataset, Skipped, assign_splits, build_manifest
from modelkit.data.scan import Progress, scan_images
from modelkit.data.sources.imdbwiki import read_imdbwiki
from modelkit.data.sources.label_tables import (
    FAIRFACE_AGES,
    map_column,
    parse_ages,
    read_table,
    require_columns,
)
from modelkit.data.sources.raw import RawSource, existing_dir
from modelkit.data.synthetic.generate import synthetic_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FAIRFACE_CSVS = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}


def load_dataset(
    source: str,
    *,
    root: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Dataset:
    """Read a dataset into a manifest of usable images, listing what was left out.

    Args:
        source: ``synthetic`` (the embedded default; ``root`` may name a folder made by
            ``generate_synthetic``), ``utkface`` (a folder of
            ``[age]_[gender]_[race]_[datetime].jpg`` files, searched recursively),
            ``fairface`` (a root holding ``fairface_label_{train,val}.csv`` and the
            images they list), ``imdbwiki`` (a root holding ``imdb.mat`` or
            ``wiki.mat``, or ``labels`` naming the .mat), ``csv`` (``labels`` names a
            CSV with a ``path`` column and any of ``age, age_group, gender, race,
            split``; see ``read_csv``).
        root: the dataset folder.
        labels: a label file (CSV for ``csv``/``fairface``, .mat for ``imdbwiki``).
        limit: keep a seeded random subset of this many rows, drawn before the images
            are decoded (so a quick look at a big set is quick). Unusable images in
            the subset are then dropped, so the result may hold fewer rows.
        seed: seeds the subset and the train/val/test split.
        progress: called with (images decoded, images to decode) while the images not
            yet in the scan cache are checked (``modelkit.data.scan``).

    Returns:
        A ``Dataset``; ``.skipped`` lists every left-out input with its reason.

    Raises:
        ValueError: unknown source, bad ``limit``, or labels that need fixing.
        FileNotFoundError: a root or label file that does not exist.
    """
    if source not in _READERS:
        raise ValueError(f"unknown source {source!r}; expected one of {list(SOURCES)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    raw = _READERS[source](root=root, labels=labels)
    frame = _subset(raw.frame, limit=limit, seed=seed)
    scan = scan_images(frame["path"].tolist(), progress=progress)
    usable = scan.table["ok"].to_numpy()
    frame = frame.loc[usable].copy()
    frame["path"] = scan.table.loc[usable, "decode_path"].to_numpy()
    manifest = build_manifest(frame.reset_index(drop=True), race_classes=raw.race_classes)
    manifest = assign_splits(manifest, seed=seed)
    return Dataset(manifest=manifest, skipped=raw.skipped + scan.skipped,
                   source=source, root=str(raw.root))


def _subset(frame: pd.DataFrame, *, limit: int | None, seed: int) -> pd.DataFrame:
    """A seeded random ``limit`` rows, kept in their original order."""
    if limit is None or limit >= len(frame):
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=limit, replace=False))
    return frame.iloc[rows]


# --- UTKFace -----------------------------------------------------------------------

def read_utkface(*, root=None, labels=None) -> RawSource:
    """A folder (searched recursively) of ``[age]_[gender]_[race]_[datetime].jpg``
    files (the real ones end ``.jpg.chip.jpg``): gender 0=male 1=female, race 0..4 =
    ``labels.UTKFACE_RACES``. Files with another extension, a malformed name or an
    age outside ``labels.MIN_AGE..MAX_AGE`` are skipped with the reason."""
    folder = existing_dir(root, source="utkface")
    rows, skipped = [], []
    for path in sorted(_walk_files(folder)):
        name = os.path.basename(path)
        if not name.lower().endswith(IMAGE_SUFFIXES):
            skipped.append(Skipped(path, f"not an image file (extension {Path(name).suffix or 'none'!r})"))
            continue
        parsed = parse_utkface_name(name)
        if isinstance(parsed, str):
            skipped.append(Skipped(path, parsed))
        else:
            rows.append({"path": path, **parsed})
    frame = pd.DataFrame(rows, columns=["path", "age", "gender", "race"])
    return RawSource(frame, tuple(vocab.UTKFACE_RACES), folder, skipped)


def parse_utkface_name(name: str) -> dict | str:
    """Labels from a UTKFace file name, or a string saying what is wrong with it.

    >>> parse_utkface_name("25_1_2_20170116174525125.jpg.chip.jpg")
    {'age': 25, 'gender': 'female', 'race': 'Asian'}
    """
    expected = "expected [age]_[gender]_[race]_[datetime].jpg"
    fields = name.split(".")[0].split("_")
    if len(fields) == 3 and fields[2].isdigit() and len(fields[2]) >= 8:
        return f"malformed UTKFace name: no race field ({expected})"
    if len(fields) != 4:
        return f"malformed UTKFace name: {len(fields)} fields, {expected}"
    age, gender, race, _ = (f.strip() for f in fields)
    if not age.isdigit():
        return f"malformed UTKFace name: age {age!r} is not a whole number ({expected})"
    if vocab.age_out_of_range([int(age)])[0]:
        return f"age {int(age)} outside {vocab.AGE_RANGE} years, the range every reader accepts"
    if gender not in ("0", "1"):
        return f"malformed UTKFace name: gender {gender!r} is not 0 (male) or 1 (female)"
    races = vocab.UTKFACE_RACES
    if not race.isdigit() or int(race) >= len(races):
        return f"malformed UTKFace name: race {race!r} is not 0..{len(races) - 1} ({', '.join(races)})"
    return {"age": int(age), "gender": vocab.GENDERS[int(gender)], "race": races[int(race)]}


def _walk_files(folder: Path):
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            yield os.path.join(parent, name)


# --- FairFace ----------------------------------------------------------------------

def read_fairface(*, root=None, labels=None) -> RawSource:
    """FairFace: ``fairface_label_train.csv`` / ``fairface_label_val.csv`` (columns
    ``file, age, gender, race``; ``file`` relative to the root). Ages are ranges only
    (``more than 70`` -> ``70+``); its train/val split is kept (no test split).
    ``labels`` may name one of the CSVs to read just that one."""
    if labels is not None:
        csv = Path(labels).expanduser()
        if not csv.is_file():
            raise FileNotFoundError(f"fairface: label file {str(csv)!r} does not exist")
        folder = existing_dir(root, source="fairface") if root is not None else csv.parent.resolve()
        csvs = {"val" if "val" in csv.stem else "train": csv}
    else:
        folder = existing_dir(root, source="fairface")
        csvs = {split: folder / name for split, name in FAIRFACE_CSVS.items() if (folder / name).is_file()}
        if not csvs:
            raise FileNotFoundError(
                f"fairface: neither {' nor '.join(FAIRFACE_CSVS.values())} is in {str(folder)!r}; "
                "point --root at the folder holding FairFace's label CSVs"
            )
    parts = [_read_fairface_csv(csv, folder=folder, split=split) for split, csv in csvs.items()]
    return RawSource(pd.concat(parts, ignore_index=True), tuple(vocab.FAIRFACE_RACES), folder)


def _read_fairface_csv(csv: Path, *, folder: Path, split: str) -> pd.DataFrame:
    table = read_table(csv, source="fairface")
    require_columns(table, ("file", "age", "gender", "race"), csv)
    age_group = map_column(table, "age", FAIRFACE_AGES, csv)
    gender = map_column(table, "gender", {"Male": "male", "Female": "female"}, csv)
    race = map_column(table, "race", {r: r for r in vocab.FAIRFACE_RACES}, csv)
    return pd.DataFrame({
        "path": [str(folder / f) for f in table["file"].astype(str)],
        "age_group": age_group, "gender": gender, "race": race, "split": split,
    })


# --- generic CSV and the synthetic set ---------------------------------------------

def read_csv(*, root=None, labels=None, race_classes: tuple[str, ...] | None = None) -> RawSource:
    """A CSV with a ``path`` column and any of ``age``, ``age_group``, ``gender``,
    ``race``, ``split`` (header names are case-insensitive).

    - ``path``: relative to ``root`` when given, else to the CSV's folder.
    - ``age``: years (``labels.MIN_AGE..MAX_AGE``, 0..100; others are refused naming
      the row), or an age group (``20-29``, ``70+``; FairFace's
      ``more than 70`` too). Empty = unknown.
    - ``gender``: ``male``/``female`` in any case (``Male``, ``FEMALE``); no codes
      such as 0/1 or M/F, whose meaning differs between sources. Empty = unknown.
    - ``race``: any names; the classes are the distinct values present, sorted.
    - ``split``: ``train``/``val``/``test``; empty cells are filled by the seeded split.

    ``labels`` defaults to ``root/labels.csv``.
    """
    if labels is None:
        folder = existing_dir(root, source="csv")
        csv = folder / "labels.csv"
        if not csv.is_file():
            raise FileNotFoundError(f"csv: no --labels FILE given and no labels.csv in {str(folder)!r}")
    else:
        csv = Path(labels).expanduser()
        if not csv.exists():
            raise FileNotFoundError(f"csv: label file {str(csv)!r} does not exist")
        if not csv.is_file():
            raise ValueError(f"csv: label file {str(csv)!r} is not a file")
        folder = existing_dir(root, source="csv") if root is not None else csv.parent.resolve()
    table = read_table(csv, source="csv")
    table.columns = [str(c).strip().lower() for c in table.columns]
    require_columns(table, ("path",), csv, optional=("age", "age_group", "gender", "race", "split"))
    blank = table["path"].isna().to_numpy().nonzero()[0]
    if len(blank):
        raise ValueError(f"{str(csv)!r} row {blank[0] + 2}, column 'path': empty "
                         f"({len(blank)} row(s) in all); expected an image file name")
    frame = pd.DataFrame({"path": [str(folder / p.strip()) for p in table["path"]]})
    if "age" in table:
        frame["age"], from_age = parse_ages(table["age"], csv)
        frame["age_group"] = from_age
    if "age_group" in table:
        groups = map_column(table, "age_group", FAIRFACE_AGES, csv)
        frame["age_group"] = groups if "age_group" not in frame else \
            np.where(pd.isna(frame["age_group"]), groups, frame["age_group"])
    lower = lambda v: v.strip().lower()  # noqa: E731
    if "gender" in table:
        frame["gender"] = map_column(table, "gender", {g: g for g in vocab.GENDERS}, csv, key=lower)
    classes = tuple(race_classes or ())
    if "race" in table:
        present = sorted({str(v).strip() for v in table["race"].dropna()} - {""})
        classes = tuple(race_classes) if race_classes is not None else tuple(present)
        frame["race"] = map_column(table, "race", {r: r for r in classes}, csv)
    if "split" in table:
        frame["split"] = map_column(table, "split", {s: s for s in vocab.SPLITS}, csv, key=lower)
    return RawSource(frame, classes, folder)


def read_synthetic(*, root=None, labels=None) -> RawSource:
    """The embedded default (generated on first use), or a folder that
    ``generate_synthetic`` made (``root``)."""
    folder = synthetic_root() if root is None else existing_dir(root, source="synthetic")
    if not (folder / "labels.csv").is_file():
        raise FileNotFoundError(
            f"synthetic: {str(folder)!r} has no labels.csv; leave --root out to use the "
            "embedded set, or give a folder made by generate_synthetic"
        )
    return read_csv(root=folder, labels=folder / "labels.csv",
                    race_classes=tuple(vocab.SYNTHETIC_RACES))



_READERS: dict[str, Callable[..., RawSource]] = {
    "synthetic": read_synthetic,
    "utkface": read_utkface,
    "fairface": read_fairface,
    "imdbwiki": read_imdbwiki,
    "csv": read_csv,
}
