"""``python -m modelkit data summary``: the JSON users script against, and its errors."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fixtures import UTKFACE_ROWS, make_tiny_utkface
from modelkit import labels
from modelkit.__main__ import main

UTKFACE_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface_sample"


def summary(capsys, *argv) -> dict:
    assert main(["data", "summary", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_shape_and_counts_on_a_utkface_folder(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk")
    (root / "7_0_9_20170116174525125.jpg.chip.jpg").write_bytes(b"")  # race 9: out of range
    (root / "notes.jpg").write_bytes(b"not an image")
    out = summary(capsys, "--source", "utkface", "--root", str(root), "--balance", "none")
    assert set(out) == {"n_images", "skipped", "counts", "balanced_counts"}
    assert out["n_images"] == len(UTKFACE_ROWS)
    assert {Path(s["path"]).name for s in out["skipped"]} == {"7_0_9_20170116174525125.jpg.chip.jpg", "notes.jpg"}
    assert all(s["reason"] for s in out["skipped"])
    assert list(out["counts"]["age_group"]) == list(labels.AGE_GROUPS)
    assert out["counts"]["race"] == {r: sum(1 for _, _, c in UTKFACE_ROWS if c == i)
                                     for i, r in enumerate(labels.UTKFACE_RACES)}
    assert out["balanced_counts"] == out["counts"]


def test_the_plan_follows_the_formula(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk", rows=[(25, 0, 0)] * 6 + [(25, 1, 1)] * 2 + [(30, 1, 2)])
    out = summary(capsys, "--source", "utkface", "--root", str(root), "--balance", "race",
                  "--target", "median", "--max-repeat", "3")
    before = out["counts"]["race"]
    present = sorted(n for n in before.values() if n)
    median = present[len(present) // 2]
    assert out["balanced_counts"]["race"] == {r: max(n, min(median, 3 * n)) for r, n in before.items()}
    # gender follows the race repeats: the two Black women and the Asian woman are repeated
    assert out["balanced_counts"]["gender"] == {"male": 6, "female": 2 + 2}


@pytest.mark.parametrize("argv,message", [
    (["--source", "utkface", "--root", "/nonexistent/faces"], "does not exist"),
    (["--source", "csv", "--labels", "/nonexistent/labels.csv"], "labels.csv"),
    (["--source", "utkface"], "--root"),
])
def test_unusable_root_exits_non_zero_with_one_line(argv, message):
    result = subprocess.run([sys.executable, "-m", "modelkit", "data", "summary", *argv],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_readable_table_without_json(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk")
    assert main(["data", "summary", "--source", "utkface", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "before" in text and "after" in text and "White" in text


@pytest.mark.slow
@pytest.mark.skipif(not UTKFACE_SAMPLE.is_dir(), reason="../shared/data/utkface_sample is not beside the checkout")
def test_real_utkface_sample_counts_what_the_file_names_say(capsys):
    names = [p.name for p in UTKFACE_SAMPLE.iterdir()]
    fields = [n.split("_") for n in names]
    out = summary(capsys, "--source", "utkface", "--root", str(UTKFACE_SAMPLE), "--balance", "age_group",
                  "--target", "max", "--max-repeat", "4")
    assert out["n_images"] + len(out["skipped"]) == len(names)
    ok = [f for f in fields if len(f) == 4]
    assert out["counts"]["gender"]["male"] == sum(f[1] == "0" for f in ok)
    race = Counter(labels.UTKFACE_RACES[int(f[2])] for f in ok)
    assert out["counts"]["race"] == {r: race[r] for r in labels.UTKFACE_RACES}
    before = out["counts"]["age_group"]
    top = max(before.values())
    assert out["balanced_counts"]["age_group"] == {g: max(n, min(top, 4 * n)) for g, n in before.items()}
