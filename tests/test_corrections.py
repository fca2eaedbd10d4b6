"""The corrections file: append-only, the latest decision wins, undo is a row too, two
writers lose nothing, and applying it relabels or drops real UTKFace faces."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkit import labels
from modelkit.curation import corrections as cx
from modelkit.curation.apply import apply_corrections
from modelkit.data import load_dataset

UTKFACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface_sample"
REPO = Path(__file__).resolve().parent.parent
RACES = list(labels.UTKFACE_RACES)


@pytest.fixture(scope="module")
def faces():
    """300 real UTKFace faces (a seeded subset, as `train --limit 300` reads them)."""
    return load_dataset("utkface", root=UTKFACE, limit=300, seed=0)


def record(file, path, attribute, action, value=None, **kw):
    return cx.record_decision(file, path=path, attribute=attribute, action=action, value=value,
                              race_classes=RACES, **kw)


def standing(file):
    return {k: (d.action, d.value) for k, d in cx.latest_decisions(cx.read_decisions(file)).items()}


def test_the_latest_decision_wins_and_nothing_is_lost(tmp_path):
    file = tmp_path / "c.jsonl"
    record(file, "a.jpg", "gender", "set", "male")
    record(file, "a.jpg", "gender", "set", "female")
    record(file, "a.jpg", "age", "set", "34.4")
    record(file, "b.jpg", "race", "exclude")
    assert standing(file) == {("a.jpg", "gender"): ("set", "female"),
                              ("a.jpg", "age"): ("set", 34.0),
                              ("b.jpg", "race"): ("exclude", None)}
    lines = file.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["value"] == "male"  # the first is kept


def test_undo_withdraws_the_last_standing_decision(tmp_path):
    file = tmp_path / "c.jsonl"
    record(file, "a.jpg", "gender", "set", "male")
    record(file, "a.jpg", "gender", "exclude")
    record(file, "a.jpg", "gender", "undo")
    assert standing(file) == {("a.jpg", "gender"): ("set", "male")}
    record(file, "a.jpg", "gender", "undo")
    assert standing(file) == {}
    record(file, "a.jpg", "gender", "undo")  # nothing left to undo: harmless
    assert standing(file) == {}
    assert len(file.read_text().splitlines()) == 5


@pytest.mark.parametrize("attribute, value, allowed", [
    ("race", "Martian", "White, Black, Asian, Indian, Others"),
    ("gender", "m", "male, female"),
    ("age_group", "20-30", "0-2, 3-9, 10-19"),
    ("age", "old", "0 to 100"),
    ("age", 130, "0 to 100"),
])
def test_a_value_outside_the_vocabulary_is_refused_with_the_allowed_values(tmp_path, attribute,
                                                                            value, allowed):
    file = tmp_path / "c.jsonl"
    with pytest.raises(ValueError, match=allowed):
        record(file, "a.jpg", attribute, "set", value)
    assert not file.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"attribute": "colour", "action": "keep"}, "unknown attribute 'colour'"),
    ({"attribute": "gender", "action": "fix"}, "unknown action 'fix'"),
    ({"attribute": "gender", "action": "set"}, "needs a value"),
])
def test_bad_decisions_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cx.record_decision(tmp_path / "c.jsonl", path="a.jpg", race_classes=RACES, **kwargs)


def test_a_torn_last_line_is_ignored_and_a_bad_middle_line_named(tmp_path):
    file = tmp_path / "c.jsonl"
    record(file, "a.jpg", "gender", "keep")
    with file.open("a") as f:
        f.write('{"path": "b.jpg", "attri')  # a writer that died mid-line
    assert standing(file) == {("a.jpg", "gender"): ("keep", None)}
    file.write_text(file.read_text() + "\n" + '{"path": "c.jpg"}\n')
    with pytest.raises(ValueError, match="line 2 is not a decision"):
        cx.read_decisions(file)


def _append_many(file: str, writer: int, n: int) -> None:
    for i in range(n):
        cx.record_decision(file, path=f"img_{i:04d}.jpg", attribute="gender", action="set",
                           value=labels.GENDERS[writer % 2], note=f"writer {writer} row {i}",
                           race_classes=RACES)


def test_two_processes_writing_at_once_lose_no_row(tmp_path):
    file = tmp_path / "c.jsonl"
    n = 400
    # Two real interpreters (not multiprocessing: its spawn start re-runs whatever
    # __main__ an earlier test left behind, e.g. an AppTest page script).
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_corrections as t; "
            "t._append_many(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent),
                                 str(file), str(w), str(n)], cwd=REPO) for w in (0, 1)]
    for w in workers:
        assert w.wait(timeout=120) == 0
    rows = cx.read_decisions(file)  # every line parses: no interleaved halves
    assert len(rows) == 2 * n
    assert {r.note for r in rows} == {f"writer {w} row {i}" for w in (0, 1) for i in range(n)}
    # The later row in the file wins for each image both wrote.
    last = {}
    for r in rows:
        last[r.key] = r.value
    assert {k: d.value for k, d in cx.latest_decisions(rows).items()} == last


def test_two_threads_writing_at_once_lose_no_row(tmp_path):
    file = tmp_path / "c.jsonl"
    threads = [threading.Thread(target=_append_many, args=(str(file), w, 300)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cx.read_decisions(file)) == 600


def test_the_default_file_is_keyed_by_source_and_root(tmp_path):
    a = cx.corrections_path(source="utkface", root=UTKFACE, runs_root=tmp_path)
    assert a == cx.corrections_path(source="utkface", root=str(UTKFACE) + "/", runs_root=tmp_path)
    assert a.parent == tmp_path / "corrections" and a.name.startswith("utkface-")
    assert a != cx.corrections_path(source="utkface", root=tmp_path, runs_root=tmp_path)
    assert a != cx.corrections_path(source="fairface", root=UTKFACE, runs_root=tmp_path)


def test_applying_relabels_drops_and_ignores_missing_images(tmp_path, faces):
    manifest = faces.manifest
    file = tmp_path / "c.jsonl"
    first, second, third, fourth = (manifest.iloc[i] for i in range(4))
    other_gender = "male" if first.gender == "female" else "female"
    record(file, first.path, "gender", "set", other_gender, root=faces.root)
    record(file, second.path, "age", "set", 75, root=faces.root)
    record(file, third.path, "race", "exclude", root=faces.root)
    record(file, fourth.path, "race", "keep", root=faces.root)
    record(file, "gone/1_0_0_20170101000000000.jpg.chip.jpg", "gender", "set", "male")
    corrected, report = apply_corrections(faces, file=file)

    assert (report.relabelled, report.excluded, report.kept) == (2, 1, 1)
    assert report.missing == ["gone/1_0_0_20170101000000000.jpg.chip.jpg"]
    assert "2 relabelled, 1 excluded" in report.summary()
    assert report.sha256 == cx.file_sha256(file.read_bytes())
    fixed = corrected.manifest.set_index("path")
    assert len(fixed) == len(manifest) - 1 and third.path not in fixed.index
    assert fixed.loc[first.path, "gender"] == other_gender
    assert fixed.loc[second.path, "age"] == 75 and fixed.loc[second.path, "age_group"] == "70+"
    untouched = manifest.iloc[4:].set_index("path")
    pd.testing.assert_frame_equal(fixed.loc[untouched.index], untouched)
    assert faces.manifest.loc[0, "gender"] == first.gender  # the dataset itself is unchanged


def test_an_age_group_the_years_contradict_clears_the_years(tmp_path, faces):
    row = faces.manifest.iloc[0]
    group = "70+" if row.age_group != "70+" else "0-2"
    file = tmp_path / "c.jsonl"
    record(file, row.path, "age_group", "set", group, root=faces.root)
    fixed = apply_corrections(faces, file=file)[0].manifest.set_index("path").loc[row.path]
    assert fixed.age_group == group and np.isnan(fixed.age)


def test_a_hand_edited_bad_value_is_refused_when_applied(tmp_path, faces):
    file = tmp_path / "c.jsonl"
    path = cx.relative_path(faces.manifest.iloc[0].path, root=faces.root)
    file.write_text(json.dumps({"path": path, "attribute": "race", "action": "set",
                                "value": "Martian", "time": 0}) + "\n")
    with pytest.raises(ValueError, match=f"{path}.*White, Black, Asian, Indian, Others"):
        apply_corrections(faces, file=file)


def test_a_missing_file_is_a_clear_error(tmp_path, faces):
    with pytest.raises(FileNotFoundError, match="corrections file .* not found"):
        apply_corrections(faces, file=tmp_path / "nope.jsonl")


def test_a_corrections_file_that_is_not_utf8_is_named(tmp_path):
    file = tmp_path / "c.jsonl"
    line = json.dumps({"path": "José.jpg", "attribute": "gender", "action": "keep"},
                      ensure_ascii=False)
    file.write_bytes((line + "\n").encode("latin-1"))
    with pytest.raises(ValueError, match="must be UTF-8") as caught:
        cx.read_decisions(file)
    assert str(caught.value).startswith(f"{file}: not UTF-8") and "line 1" in str(caught.value)


def test_applying_a_corrections_file_that_is_not_utf8_names_it(tmp_path, faces):
    file = tmp_path / "c.jsonl"
    file.write_bytes(b'{"path": "a.jpg", "attribute": "race", "action": "set", "value": "\xe9"}\n')
    with pytest.raises(ValueError, match="must be UTF-8") as caught:
        apply_corrections(faces, file=file)
    assert str(file) in str(caught.value)
