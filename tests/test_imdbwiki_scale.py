"""The full-size IMDB-WIKI stand-in (bench/make_imdbwiki.py), at a small N: its file is
in the real layout, and FaceScope's reader keeps and drops what the generator meant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from modelkit.data import load_dataset
from tests.helpers.images import write_image

REPO = Path(__file__).resolve().parents[1]
REASONS = {  # the generator's name of a drop -> words of the reader's reason
    "no face": "no face found", "face score below 1": "below 1.0",
    "second face": "second face", "no usable age": "outside",
}


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """600 rows drawn over 12 real-looking faces (tiny JPEGs)."""
    faces = tmp_path_factory.mktemp("faces")
    for i in range(12):
        write_image(faces / f"face_{i}.jpg", seed=i, format="JPEG")
    out = tmp_path_factory.mktemp("imdb") / "set"
    done = subprocess.run([sys.executable, "bench/make_imdbwiki.py", "600", str(out),
                           "--faces", str(faces), "--seed", "3", "--json"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    return out / "imdb_crop", json.loads(done.stdout)["drops"]


def test_the_file_has_the_real_layout(stand_in):
    from scipy.io import loadmat

    folder, _ = stand_in
    meta = loadmat(folder / "imdb.mat")["imdb"][0, 0]
    assert set(meta.dtype.names) == {"dob", "photo_taken", "full_path", "gender", "name",
                                     "face_location", "face_score", "second_face_score",
                                     "celeb_names", "celeb_id"}
    assert meta["full_path"].shape == (1, 600) and meta["dob"].shape == (1, 600)
    first = str(meta["full_path"][0, 0][0])
    assert first[:3] == f"{int(first.split('_')[0][5:]) % 100:02d}/"  # NN/ = the id's last digits
    assert np.isneginf(meta["face_score"]).any() and np.isnan(meta["second_face_score"]).any()
    assert meta["face_location"][0, 0].shape == (1, 4)
    assert len({str(p[0]) for p in meta["full_path"][0]}) == 600  # unique names


def test_the_reader_keeps_and_drops_what_the_generator_meant(stand_in):
    folder, expected = stand_in
    dataset = load_dataset("imdbwiki", root=folder)
    assert len(dataset.manifest) == 600 - sum(expected.values())
    assert 0.08 * 600 < sum(expected.values()) < 0.25 * 600  # the cleaning drops 10-20 %
    counted = Counter(next(k for k, words in REASONS.items() if words in s.reason)
                      for s in dataset.skipped)
    assert counted == Counter({k: v for k, v in expected.items() if v})
    kept = dataset.manifest
    assert kept["age"].between(0, 100).all() and kept["age"].median() > 20  # the adult skew
    assert kept["gender"].isna().any() and (kept["gender"] == "male").mean() > 0.5
    assert all(Path(p).exists() for p in kept["path"].head(20))


@pytest.mark.slow
def test_the_scale_benchmark_runs_every_stage_at_small_n(tmp_path):
    """bench/bench_scale.py from its one command: a row per stage and N, and a growth
    exponent per stage (the full-size run is the same command with N up to 500,000)."""
    done = subprocess.run([sys.executable, "bench/bench_scale.py", "--sizes", "300", "600",
                           "--passes", "1", "--work", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ")]
    for stage in ("read", "summary", "evaluate", "compare"):
        sizes = {cells[1].strip() for cells in rows if cells[0].strip() == stage}
        assert {"300", "600"} <= sizes, (stage, sizes)
        assert any(cells[0].strip() == stage and "growth exponent" in cells[1] for cells in rows)
    assert (tmp_path / "imdb-600" / "imdb_crop" / "imdb.mat").is_file()
