"""IMDB-WIKI: ``imdb.mat`` / ``wiki.mat`` metadata -> a raw table (no race labels)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit.data.manifest import Skipped
from modelkit.data.sources.raw import RawSource, existing_dir
from modelkit.labels import AGE_RANGE, age_out_of_range

IMDBWIKI_MATS = ("imdb.mat", "wiki.mat")
MIN_FACE_SCORE = 1.0


def read_imdbwiki(*, root=None, labels=None, min_face_score: float = MIN_FACE_SCORE) -> RawSource:
    """IMDB-WIKI: ``imdb.mat`` / ``wiki.mat`` metadata, image paths relative to the
    .mat's folder. Age is the year the photo was taken minus the birth year, taking
    the photo as shot mid-year (the dataset authors' rule). Kept: one face with a
    finite ``face_score >= min_face_score``, age in ``labels.MIN_AGE..MAX_AGE`` (the
    rest are skipped with the reason). Gender 1=male 0=female, NaN unknown (kept,
    null). No race."""
    mats = _find_mats(root, labels)
    parts, skipped = [], []
    for mat in mats:
        frame, left_out = _read_imdbwiki_mat(mat, min_face_score=min_face_score)
        parts.append(frame)
        skipped.extend(left_out)
    root_dir = Path(root).expanduser().resolve() if root is not None else mats[0].parent
    return RawSource(pd.concat(parts, ignore_index=True), (), root_dir, skipped)


def _find_mats(root, labels) -> list[Path]:
    if labels is not None:
        mat = Path(labels).expanduser()
        if not mat.is_file():
            raise FileNotFoundError(f"imdbwiki: metadata file {str(mat)!r} does not exist")
        return [mat.resolve()]
    folder = existing_dir(root, source="imdbwiki")
    candidates = [folder / name for name in IMDBWIKI_MATS]
    candidates += [folder / f"{Path(n).stem}_crop" / n for n in IMDBWIKI_MATS]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise FileNotFoundError(
            f"imdbwiki: no imdb.mat or wiki.mat in {str(folder)!r} (or its imdb_crop/, wiki_crop/); "
            "point --root at the folder holding the .mat, or pass it with --labels"
        )
    return found


def _read_imdbwiki_mat(mat: Path, *, min_face_score: float) -> tuple[pd.DataFrame, list[Skipped]]:
    from scipy.io import loadmat

    try:
        content = loadmat(mat)
    except Exception as err:  # scipy raises several types for a bad file
        raise ValueError(f"imdbwiki: cannot read {str(mat)!r} as a MATLAB file: {err}") from err
    key = next((k for k in ("imdb", "wiki") if k in content), None)
    if key is None:
        raise ValueError(f"imdbwiki: {str(mat)!r} holds no 'imdb' or 'wiki' struct")
    meta = content[key][0, 0]
    needed = ("dob", "photo_taken", "full_path", "gender", "face_score", "second_face_score")
    missing = [f for f in needed if f not in meta.dtype.names]
    if missing:
        raise ValueError(f"imdbwiki: {str(mat)!r} lacks field(s) {missing}; expected {list(needed)}")
    dob = np.ravel(meta["dob"]).astype(float)
    taken = np.ravel(meta["photo_taken"]).astype(float)
    # String joins, not Path joins: a Path per row is most of a 460,000-row read.
    prefix = str(mat.parent) + os.sep
    paths = [prefix + _mat_str(p) for p in np.ravel(meta["full_path"])]
    gender_code = np.ravel(meta["gender"]).astype(float)
    face = np.ravel(meta["face_score"]).astype(float)
    second = np.ravel(meta["second_face_score"]).astype(float)
    age = imdbwiki_age(dob=dob, photo_taken=taken)

    reasons = np.full(len(paths), None, dtype=object)
    keep = np.ones(len(paths), dtype=bool)
    # In the cleaning rules' order: a row gets the first rule it breaks.
    with np.errstate(invalid="ignore"):
        _mark(reasons, keep, ~np.isfinite(face), lambda i: "no face found (face_score -inf)")
        _mark(reasons, keep, face < min_face_score,
              lambda i: f"face score {face[i]:.2f} below {min_face_score}")
        _mark(reasons, keep, np.isfinite(second),
              lambda i: f"a second face in the photo (second_face_score {second[i]:.2f})")
        _mark(reasons, keep, np.isnan(age), lambda i: f"no usable date of birth (dob {dob[i]!r})")
        _mark(reasons, keep, age_out_of_range(age),
              lambda i: f"age {age[i]:.0f} outside {AGE_RANGE} (born {_birth_year(dob[i])}, "
                        f"photo {taken[i]:.0f})")
    gender = np.where(gender_code == 1, "male", np.where(gender_code == 0, "female", None))
    frame = pd.DataFrame({"path": np.asarray(paths, dtype=object)[keep], "age": age[keep],
                          "gender": gender[keep]})
    skipped = [Skipped(paths[i], reasons[i]) for i in np.flatnonzero(~keep)]
    return frame, skipped


def imdbwiki_age(*, dob, photo_taken) -> np.ndarray:
    """Age in whole years from a MATLAB datenum birth date and the photo's year,
    assuming the photo was taken on 1 July (as the IMDB-WIKI authors do). NaN where
    the birth date is unusable.

    >>> imdbwiki_age(dob=[723667.0], photo_taken=[2009])   # born 1981-05-01
    array([28.])
    """
    dob = np.asarray(dob, dtype=float)
    taken = np.asarray(photo_taken, dtype=float)
    # MATLAB datenum 1 is 0000-01-01; Python's ordinal 1 is 0001-01-01: 366 days apart.
    valid = np.isfinite(dob) & (dob > 366 + 1) & np.isfinite(taken)
    ordinal = np.where(valid, np.floor(dob) - 366, date(1970, 1, 1).toordinal())
    days = (ordinal - date(1970, 1, 1).toordinal()).astype("int64").astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(int) + 1970
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    age = taken - year - (month >= 7)
    return np.where(valid, age, np.nan).astype(float)


def _birth_year(dob: float) -> str:
    age_at_zero = imdbwiki_age(dob=[dob], photo_taken=[0])[0]
    return "?" if np.isnan(age_at_zero) else str(int(-age_at_zero))


def _mark(reasons: np.ndarray, keep: np.ndarray, mask: np.ndarray,
          why: Callable[[int], str]) -> None:
    """Give the rows still kept that match ``mask`` the reason ``why(i)``, and drop them.
    Only the dropped rows (10-20 % of IMDB-WIKI) format a reason."""
    hits = np.flatnonzero(mask & keep)
    reasons[hits] = [why(i) for i in hits]
    keep[hits] = False


def _mat_str(value) -> str:
    """A MATLAB cell's string: loadmat wraps each in a 1-element array."""
    while isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return str(value)
