"""Each reader on tiny datasets in the source's real layout, each bad input, and the
real UTKFace sample counted against its file names."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkit import labels
from modelkit.data import load_dataset
from modelkit.data.sources.imdbwiki import imdbwiki_age
from modelkit.data.sources.readers import parse_utkface_name
from tests.helpers.datasets import (
    FAIRFACE_ROWS,
    UTKFACE_ROWS,
    make_tiny_csv,
    make_tiny_fairface,
    make_tiny_imdbwiki,
    make_tiny_synthetic,
    make_tiny_utkface,
    utkface_name,
)
from tests.helpers.images import write_image

UTKFACE_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface_sample"


def nullable(column: pd.Series) -> list:
    return column.astype(object).where(column.notna(), None).tolist()


def reasons(ds) -> dict[str, str]:
    return {os.path.basename(s.path): s.reason for s in ds.skipped}


# --- UTKFace -----------------------------------------------------------------------

def test_utkface_labels_come_from_the_file_names(tmp_path):
    root = make_tiny_utkface(tmp_path / "utk")
    ds = load_dataset("utkface", root=root)
    m = ds.manifest
    got = sorted(zip(m["age"], m["gender"].astype(str), m["race"].astype(str), strict=False))
    expected = sorted((float(age), ("male", "female")[g], ("White", "Black", "Asian", "Indian", "Others")[r])
                      for age, g, r in UTKFACE_ROWS)
    assert got == expected
    assert ds.race_classes == list(labels.UTKFACE_RACES)
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in m["path"])
    assert ds.source == "utkface" and not ds.skipped and not ds.age_is_range


MALFORMED_NAMES = [  # (file name, words the reason must hold)
    ("39_1_20170116174525125.jpg.chip.jpg", "no race field"),
    ("25_0_7_20170116174525125.jpg.chip.jpg", "race '7'"),
    ("25_2_0_20170116174525125.jpg.chip.jpg", "gender '2'"),
    ("old_0_0_20170116174525125.jpg.chip.jpg", "age 'old'"),
    ("25_0_0.jpg", "3 fields"),
    ("25_0_0_1_20170116174525125.jpg", "5 fields"),
    ("portrait.jpg", "1 fields"),
]


@pytest.mark.parametrize("name, reason", MALFORMED_NAMES, ids=[m[0] for m in MALFORMED_NAMES])
def test_utkface_malformed_name_is_skipped_with_reason(tmp_path, name, reason):
    write_image(tmp_path / utkface_name(30, 1, 3), format="JPEG")
    write_image(tmp_path / name, format="JPEG")
    ds = load_dataset("utkface", root=tmp_path)
    assert len(ds.manifest) == 1 and ds.manifest["race"].iloc[0] == "Indian"
    assert reason in reasons(ds)[name]


def _write_truncated(path: Path) -> None:
    full = write_image(path.parent.parent / "full.jpg", size=32, format="JPEG")
    path.write_bytes(full.read_bytes()[:300])


BAD_FILES = [  # (how to write the file under a valid UTKFace name, words of the reason)
    (lambda p: p.write_bytes(b""), "empty file"),
    (_write_truncated, "truncated"),
    (lambda p: p.write_text("not a picture"), "not an image"),
]


@pytest.mark.parametrize("write, reason", BAD_FILES, ids=["empty", "truncated", "text"])
def test_unusable_image_is_skipped_and_the_rest_loads(tmp_path, write, reason):
    root = make_tiny_utkface(tmp_path / "utk")
    bad = root / utkface_name(40, 0, 0, stamp="20990101000000000")
    write(bad)
    ds = load_dataset("utkface", root=root)
    assert len(ds.manifest) == len(UTKFACE_ROWS)
    assert reason in reasons(ds)[bad.name]


def test_utkface_non_image_file_is_skipped(tmp_path):
    root = make_tiny_utkface(tmp_path / "utk")
    (root / "README.txt").write_text("about this folder")
    ds = load_dataset("utkface", root=root)
    assert len(ds.manifest) == len(UTKFACE_ROWS)
    assert "not an image file" in reasons(ds)["README.txt"]


def test_utkface_grey_and_cmyk_images_are_kept(tmp_path):
    root = make_tiny_utkface(tmp_path / "utk", rows=[])
    write_image(root / utkface_name(20, 0, 0), mode="L", format="JPEG")
    write_image(root / utkface_name(21, 1, 1, stamp="1"), mode="CMYK", format="JPEG")
    write_image(root / "22_1_2_3.tif", mode="RGBA")
    ds = load_dataset("utkface", root=root)
    assert sorted(ds.manifest["age"]) == [20.0, 21.0, 22.0] and not ds.skipped


def test_parse_utkface_name():
    assert parse_utkface_name("100_1_4_20170112213615815.jpg.chip.jpg") == {
        "age": 100, "gender": "female", "race": "Others"}


@pytest.mark.slow  # 2-4 s on an idle 2-core box, 9 s under load: the first scan of 8,000 JPEGs
def test_utkface_sample_counts_what_the_names_say():
    """The real 8,000-file sample: counts must equal an independent parse of the names;
    the 9 faces named older than 100 (105 to 116) are skipped with the reason."""
    if not UTKFACE_SAMPLE.is_dir():
        pytest.skip(f"{UTKFACE_SAMPLE} not present")
    all_names = os.listdir(UTKFACE_SAMPLE)
    too_old = sorted(n for n in all_names if int(n.split("_")[0]) > 100)
    names = sorted(set(all_names) - set(too_old))
    fields = [n.split(".")[0].split("_") for n in names]
    ages = pd.Series([int(f[0]) for f in fields])
    group_edges = [0, 3, 10, 20, 30, 40, 50, 60, 70, 10_000]
    expected_groups = pd.cut(ages, group_edges, right=False, labels=labels.AGE_GROUPS).value_counts()
    expected_gender = pd.Series([{"0": "male", "1": "female"}[f[1]] for f in fields]).value_counts()
    expected_race = pd.Series([labels.UTKFACE_RACES[int(f[2])] for f in fields]).value_counts()

    ds = load_dataset("utkface", root=UTKFACE_SAMPLE)
    m = ds.manifest
    assert len(all_names) == 8000 and len(too_old) == 9 and len(m) == len(names) == 7991
    assert sorted(reasons(ds)) == too_old
    assert all("outside 0..100" in reason for reason in reasons(ds).values())
    for column, expected in (("age_group", expected_groups), ("gender", expected_gender),
                             ("race", expected_race)):
        got = m[column].astype(str).value_counts()
        assert got.sort_index().to_dict() == expected[expected > 0].sort_index().to_dict(), column
    assert m["split"].value_counts(normalize=True)["train"] == pytest.approx(0.8, abs=0.02)


# --- FairFace ----------------------------------------------------------------------

def test_fairface_ranges_genders_races_and_its_own_split(tmp_path):
    root = make_tiny_fairface(tmp_path / "ff")
    ds = load_dataset("fairface", root=root)
    m = ds.manifest.assign(file=lambda d: d["path"].map(lambda p: os.path.relpath(p, root)))
    m = m.set_index("file")
    for split, rows in FAIRFACE_ROWS.items():
        for i, (age, gender, race) in enumerate(rows, start=1):
            row = m.loc[f"{split}/{i}.jpg"]
            assert row["age_group"] == ("70+" if age == "more than 70" else age)
            assert row["gender"] == gender.lower() and row["race"] == race
            assert row["split"] == split
    assert m["age"].isna().all() and ds.age_is_range
    assert ds.race_classes == list(labels.FAIRFACE_RACES)
    assert set(m["split"]) == {"train", "val"}  # no test split invented


def test_fairface_listed_image_missing_is_skipped(tmp_path):
    root = make_tiny_fairface(tmp_path / "ff")
    os.remove(root / "val" / "2.jpg")
    ds = load_dataset("fairface", root=root)
    assert len(ds.manifest) == 5
    assert [(s.path, s.reason) for s in ds.skipped] == [(str(root / "val" / "2.jpg"), "file not found")]


def test_fairface_unknown_age_names_row_and_column(tmp_path):
    root = make_tiny_fairface(tmp_path / "ff", rows={"train": [("20-29", "Male", "White"),
                                                               ("about 40", "Male", "White")]})
    with pytest.raises(ValueError, match=r"fairface_label_train.csv' row 3, column 'age': unknown value 'about 40'"):
        load_dataset("fairface", root=root)


def test_fairface_without_label_csvs(tmp_path):
    with pytest.raises(FileNotFoundError, match="fairface_label_train.csv"):
        load_dataset("fairface", root=tmp_path)


# --- IMDB-WIKI ---------------------------------------------------------------------

def imdb_row(born: date, taken: int, gender=1.0, **extra) -> dict:
    return {"dob": born, "photo_taken": taken, "gender": gender, **extra}


def test_imdbwiki_age_from_birth_date_and_photo_year(tmp_path):
    rows = [
        imdb_row(date(1981, 5, 1), 2009),            # birthday before July: 28
        imdb_row(date(1981, 8, 1), 2009, 0.0),       # after July: not yet 28
        imdb_row(date(1950, 1, 15), 2015, np.nan),   # gender unknown: kept, null
    ]
    ds = load_dataset("imdbwiki", root=make_tiny_imdbwiki(tmp_path / "wiki", rows))
    m = ds.manifest.sort_values("path")
    assert m["age"].tolist() == [28.0, 27.0, 65.0]
    assert m["gender"].tolist()[:2] == ["male", "female"] and pd.isna(m["gender"].iloc[2])
    assert m["race"].isna().all() and ds.race_classes == []
    assert not ds.skipped


IMDB_FILTERED = [  # (row, words the reason must hold)
    (imdb_row(date(1980, 1, 1), 2010, face_score=-np.inf), "no face found"),
    (imdb_row(date(1980, 1, 1), 2010, face_score=0.4), "face score 0.40 below 1.0"),
    (imdb_row(date(1980, 1, 1), 2010, second_face_score=2.5), "second face"),
    (imdb_row(date(1890, 1, 1), 2000), "age 110 outside 0..100"),
    (imdb_row(date(2012, 1, 1), 2004), "age -8 outside 0..100"),
]


@pytest.mark.parametrize("row, reason", IMDB_FILTERED, ids=["no-face", "low-score", "two-faces",
                                                            "too-old", "negative-age"])
def test_imdbwiki_filters_with_reason(tmp_path, row, reason):
    root = make_tiny_imdbwiki(tmp_path / "imdb", [imdb_row(date(1990, 3, 3), 2010), row], name="imdb")
    ds = load_dataset("imdbwiki", root=root)
    assert ds.manifest["age"].tolist() == [20.0]
    [skipped] = ds.skipped
    assert skipped.path == str(root / "01" / "img_1.jpg") and reason in skipped.reason


def test_imdbwiki_age_matches_the_calendar():
    # MATLAB datenum of 1981-05-01 is 723667 (datenum(1981,5,1)).
    assert imdbwiki_age(dob=[723667.0], photo_taken=[2009]).tolist() == [28.0]
    assert np.isnan(imdbwiki_age(dob=[np.nan], photo_taken=[2009])[0])


def test_imdbwiki_without_mat(tmp_path):
    with pytest.raises(FileNotFoundError, match="no imdb.mat or wiki.mat"):
        load_dataset("imdbwiki", root=tmp_path)


# --- generic CSV -------------------------------------------------------------------

def test_csv_years_groups_genders_and_races(tmp_path):
    csv = make_tiny_csv(tmp_path / "set", [
        {"path": "a.jpg", "age": "34", "gender": "Female", "race": "Martian"},
        {"path": "b.jpg", "age": "70+", "gender": "male", "race": "Venusian"},
        {"path": "sub/c.png", "age": "more than 70", "gender": "", "race": ""},
        {"path": "d.jpg", "age": "", "gender": "MALE", "race": "Martian"},
    ])
    ds = load_dataset("csv", labels=csv)
    m = ds.manifest
    assert m["path"].tolist() == [str(tmp_path / "set" / p) for p in ("a.jpg", "b.jpg", "sub/c.png", "d.jpg")]
    assert m["age"].iloc[0] == 34.0 and m["age"].iloc[1:].isna().all()
    assert nullable(m["age_group"]) == ["30-39", "70+", "70+", None]
    assert nullable(m["gender"]) == ["female", "male", None, "male"]
    assert ds.race_classes == ["Martian", "Venusian"]
    assert pd.isna(m["race"].iloc[2])


def test_csv_without_optional_columns_gives_nulls(tmp_path):
    csv = make_tiny_csv(tmp_path, [{"path": "a.jpg", "age": 3}, {"path": "b.jpg", "age": 60}])
    ds = load_dataset("csv", labels=csv)
    assert ds.manifest["gender"].isna().all() and ds.manifest["race"].isna().all()
    assert ds.race_classes == []
    assert ds.manifest["age_group"].astype(str).tolist() == ["3-9", "60-69"]


def test_csv_paths_relative_to_root_when_given(tmp_path):
    write_image(tmp_path / "images" / "a.jpg", format="JPEG")
    csv = make_tiny_csv(tmp_path / "labels", [{"path": "images/a.jpg", "age": 5, "_image": False}])
    ds = load_dataset("csv", root=tmp_path, labels=csv)
    assert ds.manifest["path"].tolist() == [str(tmp_path / "images" / "a.jpg")]


def test_csv_keeps_a_given_split(tmp_path):
    rows = [{"path": f"{i}.jpg", "age": 20 + i, "split": "Test" if i < 3 else ""} for i in range(12)]
    ds = load_dataset("csv", labels=make_tiny_csv(tmp_path, rows))
    assert (ds.manifest["split"].iloc[:3] == "test").all()
    assert ds.manifest["split"].notna().all()


def test_csv_listed_image_missing_is_skipped(tmp_path):
    csv = make_tiny_csv(tmp_path, [{"path": "here.jpg", "age": 30},
                                   {"path": "gone.jpg", "age": 31, "_image": False}])
    ds = load_dataset("csv", labels=csv)
    assert len(ds.manifest) == 1
    assert reasons(ds) == {"gone.jpg": "file not found"}


def test_csv_without_path_column_names_it(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,age\na.jpg,30\n")
    with pytest.raises(ValueError, match=r"has no 'path' column \(columns: file, age\)"):
        load_dataset("csv", labels=csv)


UNKNOWN_VALUES = [  # (column, bad value, words of the error)
    ("path", "", "row 3, column 'path': empty"),
    ("gender", "M", "row 3, column 'gender': unknown value 'M'"),
    ("gender", "1", "row 3, column 'gender': unknown value '1'"),
    ("age", "elderly", "row 3, column 'age': unknown value 'elderly'"),
    ("age", "-4", "row 3, column 'age': '-4' is not an age"),
    ("split", "holdout", "row 3, column 'split': unknown value 'holdout'"),
]


@pytest.mark.parametrize("column, value, message", UNKNOWN_VALUES,
                         ids=[f"{c}={v}" for c, v, _ in UNKNOWN_VALUES])
def test_csv_unknown_label_value_names_row_and_column(tmp_path, column, value, message):
    good = {"path": "a.jpg", "age": "30", "gender": "male", "split": "train"}
    bad = {**good, "path": "b.jpg", column: value, "_image": column != "path"}
    csv = make_tiny_csv(tmp_path, [good, bad])
    with pytest.raises(ValueError, match=message):
        load_dataset("csv", labels=csv)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"path,age\na.jpg,1,2,3\n", "cannot parse"),
    (b"path,age\n\xff\xfe\xfa.jpg,3\n", "cannot parse"),
], ids=["empty", "ragged", "not-utf8"])
def test_csv_that_cannot_be_parsed(tmp_path, content, message):
    csv = tmp_path / "labels.csv"
    csv.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_dataset("csv", labels=csv)


# --- roots, limits and splits ------------------------------------------------------

@pytest.mark.parametrize("source", ["utkface", "fairface", "imdbwiki", "csv", "synthetic"])
def test_root_that_does_not_exist(tmp_path, source):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(source, root=tmp_path / "nowhere")


@pytest.mark.parametrize("source", ["utkface", "fairface", "imdbwiki", "csv"])
def test_root_that_is_a_file(tmp_path, source):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        load_dataset(source, root=tmp_path / "f.txt")


def test_csv_label_file_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_dataset("csv", labels=tmp_path / "missing.csv")


@pytest.mark.parametrize("kwargs, message", [
    ({"source": "celeba"}, "unknown source 'celeba'"),
    ({"source": "synthetic", "limit": 0}, "limit must be a positive integer"),
    ({"source": "synthetic", "limit": "5"}, "limit must be a positive integer"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(**kwargs)


def test_limit_is_a_seeded_subset(tiny_synthetic_root):
    def paths(seed):
        return load_dataset("synthetic", root=tiny_synthetic_root, limit=10, seed=seed).manifest["path"].tolist()
    assert len(paths(0)) == 10 and paths(0) == paths(0)
    assert paths(0) != paths(1)
    assert len(load_dataset("synthetic", root=tiny_synthetic_root, limit=10_000).manifest) == 60


def test_split_is_reproducible_for_a_seed(tiny_synthetic_root):
    def split(seed):
        return load_dataset("synthetic", root=tiny_synthetic_root, seed=seed).manifest["split"].tolist()
    assert split(3) == split(3)
    assert split(3) != split(4)
    assert set(split(3)) == {"train", "val", "test"}


def test_tiny_synthetic_helper_loads(tmp_path):
    assert len(load_dataset("synthetic", root=make_tiny_synthetic(tmp_path, n=5)).manifest) == 5


# --- one age range for every reader (issue #20) ------------------------------------

def test_the_one_age_range_lives_in_labels():
    assert (labels.MIN_AGE, labels.MAX_AGE) == (0, 100)
    got = labels.age_out_of_range([-1, 0, 34.5, 100, 100.5, 101, 105, 120, np.inf, np.nan])
    assert got.tolist() == [True, False, False, False, True, True, True, True, True, False]


CSV_AGES = [  # (age as written in the CSV, words of the error; None = accepted)
    ("0", None),
    ("100", None),
    ("105", r"row 3, column 'age': '105' is not an age in years \(0\.\.100\)"),
    ("101", r"row 3, column 'age': '101' is not an age in years \(0\.\.100\)"),
    ("120", r"row 3, column 'age': '120' is not an age in years \(0\.\.100\)"),
    ("-1", r"row 3, column 'age': '-1' is not an age in years \(0\.\.100\)"),
]


@pytest.mark.parametrize("age, message", CSV_AGES, ids=[a for a, _ in CSV_AGES])
def test_csv_age_outside_the_range_is_refused_naming_the_row(tmp_path, age, message):
    csv = make_tiny_csv(tmp_path, [{"path": "a.jpg", "age": "30"}, {"path": "b.jpg", "age": age}])
    if message is None:
        assert load_dataset("csv", labels=csv).manifest["age"].tolist() == [30.0, float(age)]
    else:
        with pytest.raises(ValueError, match=message):
            load_dataset("csv", labels=csv)


UTKFACE_AGES = [  # (age field of the file name, words of the skip reason; None = kept)
    ("0", None),
    ("100", None),
    ("105", "age 105 outside 0..100"),
    ("101", "age 101 outside 0..100"),
    ("-1", "age '-1' is not a whole number"),
]


@pytest.mark.parametrize("age, reason", UTKFACE_AGES, ids=[a for a, _ in UTKFACE_AGES])
def test_utkface_age_outside_the_range_is_skipped_with_reason(tmp_path, age, reason):
    write_image(tmp_path / utkface_name(30, 1, 3), format="JPEG")
    name = f"{age}_0_0_20170116174525999.jpg.chip.jpg"
    write_image(tmp_path / name, format="JPEG")
    ds = load_dataset("utkface", root=tmp_path)
    if reason is None:
        assert sorted(ds.manifest["age"]) == sorted([30.0, float(age)]) and not ds.skipped
    else:
        assert ds.manifest["age"].tolist() == [30.0]
        assert reason in reasons(ds)[name]
        assert isinstance(parse_utkface_name(name), str)


IMDB_AGES = [  # (birth date, photo year, age, words of the skip reason; None = kept)
    (date(1900, 1, 1), 2000, 100, None),
    (date(1990, 1, 1), 1990, 0, None),
    (date(1899, 1, 1), 2000, 101, "age 101 outside 0..100"),
    (date(1895, 1, 1), 2000, 105, "age 105 outside 0..100"),
    (date(2001, 1, 1), 2000, -1, "age -1 outside 0..100"),
]


@pytest.mark.parametrize("born, taken, age, reason", IMDB_AGES, ids=[str(a[2]) for a in IMDB_AGES])
def test_imdbwiki_age_outside_the_range_is_skipped_with_reason(tmp_path, born, taken, age, reason):
    root = make_tiny_imdbwiki(tmp_path / "imdb", [imdb_row(date(1990, 3, 3), 2010),
                                                  imdb_row(born, taken)], name="imdb")
    ds = load_dataset("imdbwiki", root=root)
    if reason is None:
        assert sorted(ds.manifest["age"]) == sorted([20.0, float(age)]) and not ds.skipped
    else:
        assert ds.manifest["age"].tolist() == [20.0]
        [skipped] = ds.skipped
        assert skipped.path == str(root / "01" / "img_1.jpg") and reason in skipped.reason


def test_fairface_age_in_years_is_refused_naming_the_row(tmp_path):
    """FairFace gives ranges only: a number of years (in range or not) names the row."""
    root = make_tiny_fairface(tmp_path / "ff", rows={"train": [("20-29", "Male", "White"),
                                                               ("105", "Male", "White")]})
    with pytest.raises(ValueError, match=r"fairface_label_train.csv' row 3, column 'age': unknown value '105'"):
        load_dataset("fairface", root=root)
