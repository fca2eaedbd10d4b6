"""Write an IMDB-WIKI-shaped face set of N images: ``imdb_crop/imdb.mat`` in the real
file's layout and the images under ``imdb_crop/NN/`` (issue 26's full-size stand-in).

The images are real faces from a sample (UTKFace's, by default), linked under new names
(``--copy`` copies them). The metadata is drawn to look like the real IMDB part's:
- the ``imdb`` struct with ``dob`` (MATLAB datenum), ``photo_taken``, ``full_path``,
  ``gender`` (1 male, 0 female, NaN unknown), ``name``, ``face_location``, ``face_score``
  (-Inf when no face was found), ``second_face_score`` (NaN when there is one face),
  ``celeb_names`` and ``celeb_id``;
- names like ``NN/nm0000123_rm456_1971-7-4_2009.jpg`` (NN: the last two digits of the
  person's id), a few thousand people with a long-tailed number of photos each;
- the age skew (most photos of people in their twenties to forties) and the rows the
  standard cleaning drops (about 15 %: no face, a face score under 1, a second face, a
  birth date that gives no usable age).

    .venv/bin/python bench/make_imdbwiki.py 100000 /tmp/imdb100k

It prints how many rows the cleaning should drop for each reason (``--json``: as JSON), so a reader can be
checked against it (tests/test_imdbwiki_scale.py runs it at a small N).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "utkface_sample"
MAT_EPOCH = 366  # MATLAB datenum of 0000-01-01 is 1; Python's ordinal 1 is 0001-01-01
# The shares of rows the cleaning drops, in the order the reader checks them.
NO_FACE, LOW_SCORE, SECOND_FACE, BAD_DOB = 0.04, 0.03, 0.07, 0.015
UNKNOWN_GENDER, MALE = 0.02, 0.58


def draw_metadata(n: int, *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Columns of N rows (numpy arrays), drawn like the real IMDB part's."""
    people = max(1, n // 23)  # the real set: 460,723 photos of 20,284 people
    person = np.minimum(rng.zipf(1.6, size=n) - 1, people - 1)
    person = rng.permutation(people)[person]  # the busiest people are not the first ids
    birth_year = rng.integers(1930, 2000, size=people)[person]
    # Age at the photo: a right-skewed bump around the late twenties to forties.
    age = np.clip(np.round(rng.gamma(6.0, 6.0, size=n) + rng.normal(0, 2, size=n)), 1, 95)
    taken = (birth_year + age).astype(float)
    day_of_year = rng.integers(0, 365, size=people)[person]
    birth = np.array([date(int(y), 1, 1).toordinal() for y in birth_year]) + day_of_year
    dob = (birth + MAT_EPOCH).astype(float)

    u = rng.random(n)
    face_score = rng.uniform(1.0, 6.0, size=n)
    second = np.full(n, np.nan)
    edges = np.cumsum([NO_FACE, LOW_SCORE, SECOND_FACE, BAD_DOB])
    face_score[u < edges[0]] = -np.inf
    low = (u >= edges[0]) & (u < edges[1])
    face_score[low] = rng.uniform(0.0, 0.99, size=int(low.sum()))
    in_second = (u >= edges[1]) & (u < edges[2])
    second[in_second] = rng.uniform(1.0, 4.0, size=int(in_second.sum()))
    bad_dob = (u >= edges[2]) & (u < edges[3])
    taken[bad_dob] = birth_year[bad_dob] - 5  # photo before birth: a negative age
    gender = np.where(rng.random(n) < MALE, 1.0, 0.0)
    gender[rng.random(n) < UNKNOWN_GENDER] = np.nan
    return {"person": person, "dob": dob, "photo_taken": taken, "gender": gender,
            "face_score": face_score, "second_face_score": second,
            "expected_drops": {"no face": int((u < edges[0]).sum()),
                               "face score below 1": int(low.sum()),
                               "second face": int(in_second.sum()),
                               "no usable age": int(bad_dob.sum())}}


def file_names(meta: dict) -> list[str]:
    """``NN/nm<id>_rm<photo>_<birth date>_<year>.jpg`` for each row (unique)."""
    names = []
    for i, (who, dob, year) in enumerate(zip(meta["person"], meta["dob"], meta["photo_taken"],
                                             strict=True)):
        born = date.fromordinal(int(dob) - MAT_EPOCH)
        names.append(f"{who % 100:02d}/nm{who:07d}_rm{i:09d}_{born.year}-{born.month}-{born.day}"
                     f"_{int(year)}.jpg")
    return names


def write_mat(path: Path, meta: dict, names: list[str], *, rng: np.random.Generator) -> None:
    """``imdb.mat``: a 1x1 struct ``imdb`` whose fields are 1xN arrays and cells."""
    from scipy.io import savemat

    n = len(names)
    people = int(meta["person"].max()) + 1
    cells = np.empty((1, n), dtype=object)
    cells[0, :] = names
    name_cells = np.empty((1, n), dtype=object)
    name_cells[0, :] = [f"Person {p}" for p in meta["person"]]
    boxes = np.empty((1, n), dtype=object)
    corner = rng.uniform(0, 60, size=(n, 2))
    for i in range(n):
        boxes[0, i] = np.array([[corner[i, 0], corner[i, 1], corner[i, 0] + 140, corner[i, 1] + 140]])
    celebs = np.empty((1, people), dtype=object)
    celebs[0, :] = [f"Person {p}" for p in range(people)]
    row = lambda a: np.asarray(a, dtype=float).reshape(1, -1)  # noqa: E731
    imdb = {"dob": row(meta["dob"]), "photo_taken": row(meta["photo_taken"]), "full_path": cells,
            "gender": row(meta["gender"]), "name": name_cells, "face_location": boxes,
            "face_score": row(meta["face_score"]),
            "second_face_score": row(meta["second_face_score"]), "celeb_names": celebs,
            "celeb_id": row(meta["person"] + 1)}
    savemat(path, {"imdb": imdb}, do_compression=False)


def place_images(folder: Path, names: list[str], faces: list[Path], *, copy: bool) -> None:
    """Each name gets a face of the sample, in turn: a symlink, or a copy with ``copy``."""
    for sub in {name[:2] for name in names}:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        source, target = faces[i % len(faces)], folder / name
        if copy:
            shutil.copyfile(source, target)
        else:
            os.symlink(source, target)


def make(n: int, out: Path, *, faces_root: Path = DEFAULT_FACES, seed: int = 0,
         copy: bool = False) -> dict:
    """Write the set under ``out/imdb_crop``; returns the expected drops per reason."""
    faces = sorted(p.resolve() for p in Path(faces_root).glob("*.jpg"))
    if not faces:
        raise FileNotFoundError(f"no .jpg faces in {faces_root}: pass --faces")
    folder = Path(out) / "imdb_crop"
    if folder.exists():
        raise FileExistsError(f"{folder} exists: pick an empty output folder")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    meta = draw_metadata(n, rng=rng)
    names = file_names(meta)
    write_mat(folder / "imdb.mat", meta, names, rng=rng)
    place_images(folder, names, faces, copy=copy)
    return meta["expected_drops"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="how many images")
    parser.add_argument("out", type=Path, help="an empty folder; the set goes in OUT/imdb_crop")
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES,
                        help="a folder of real face .jpg files (default the UTKFace sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copy", action="store_true", help="copy the images (default: symlinks)")
    parser.add_argument("--json", action="store_true",
                        help="print {n, folder, seconds, drops: {reason: count}} as JSON")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("n must be at least 1")
    start = time.perf_counter()
    drops = make(args.n, args.out, faces_root=args.faces, seed=args.seed, copy=args.copy)
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({"n": args.n, "folder": str(args.out / "imdb_crop"),
                          "seconds": round(seconds, 2), "drops": drops}))
        return 0
    print(f"wrote {args.n:,} images to {args.out / 'imdb_crop'} in {seconds:.1f} s; "
          f"the cleaning should drop {sum(drops.values()):,}: "
          + ", ".join(f"{k} {v:,}" for k, v in drops.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
