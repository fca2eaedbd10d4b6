"""The ranking: out-of-sample predictions on embeddings, scored by cleanlab, find
labels flipped on purpose far better than chance; the table has the contract's shape.

The constructed case is embeddings where the truth is known: each class a Gaussian
blob, ages a linear function of the features plus noise; then a seeded 5 % of the
labels is flipped and the flipped ones must lead the ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkit import labels
from modelkit.curation import suspects
from modelkit.data.manifest import build_manifest

RACES = list(labels.UTKFACE_RACES)
N, DIM = 600, 16


def constructed(seed=0, flip=0.05):
    """(features, manifest with flipped labels, flipped rows per attribute)."""
    rng = np.random.default_rng(seed)
    gender = rng.integers(0, 2, N)
    race = rng.integers(0, len(RACES), N)
    centres = rng.normal(0, 1.2, (2 + len(RACES), DIM))
    features = centres[gender] + centres[2 + race] + rng.normal(0, 0.8, (N, DIM))
    weights = rng.normal(0, 1, DIM)
    ages = np.clip(35 + 4 * (features @ weights) / np.sqrt(DIM) + rng.normal(0, 3, N), 1, 90).round()
    k = int(flip * N)
    flipped = {a: np.sort(rng.choice(N, k, replace=False)) for a in ("gender", "race", "age")}
    gender[flipped["gender"]] = 1 - gender[flipped["gender"]]
    race[flipped["race"]] = (race[flipped["race"]] + rng.integers(1, len(RACES), k)) % len(RACES)
    ages[flipped["age"]] = np.where(ages[flipped["age"]] < 45, ages[flipped["age"]] + 30,
                                    ages[flipped["age"]] - 30)
    frame = pd.DataFrame({"path": [f"/faces/{i:04d}.jpg" for i in range(N)], "age": ages,
                          "gender": np.asarray(labels.GENDERS)[gender],
                          "race": np.asarray(RACES)[race],
                          "split": np.where(np.arange(N) % 10 == 0, "test", "train")})
    return features, build_manifest(frame, race_classes=RACES), flipped


@pytest.fixture(scope="module")
def case():
    features, manifest, flipped = constructed()
    return suspects.find_suspects(features, manifest, race_classes=RACES, folds=5), flipped


def precision_at_k(table, attribute, flipped_rows):
    top = table[table["attribute"] == attribute].head(len(flipped_rows))
    found = top["path"].isin([f"/faces/{i:04d}.jpg" for i in flipped_rows])
    return float(found.mean())


@pytest.mark.parametrize("attribute", ["gender", "race", "age"])
def test_flipped_labels_lead_the_ranking(case, attribute):
    table, flipped = case
    chance = len(flipped[attribute]) / N  # 0.05: what a random ranking finds
    assert precision_at_k(table, attribute, flipped[attribute]) >= max(0.6, 10 * chance)


def test_the_suggestion_of_a_flipped_gender_is_the_true_one(case):
    table, flipped = case
    rows = table[(table["attribute"] == "gender")
                 & table["path"].isin([f"/faces/{i:04d}.jpg" for i in flipped["gender"]])]
    assert (rows["suggested"] != rows["given"]).mean() >= 0.8


def test_the_table_has_every_labelled_image_once_per_attribute_in_every_split(case):
    table, _ = case
    assert list(table.columns) == list(suspects.SUSPECT_COLUMNS)
    assert table.groupby("attribute").size().to_dict() == {"age": N, "gender": N, "race": N}
    assert set(table["split"]) == {"train", "test"}
    for _, part in table.groupby("attribute"):
        assert part["rank"].tolist() == list(range(1, N + 1))
        assert part["score"].is_monotonic_increasing
    assert table["score"].between(0, 1).all() and table["confidence"].dropna().between(0, 1).all()
    flagged = table.groupby("attribute")["is_issue"].mean()
    assert (flagged > 0).all() and (flagged < 0.3).all()


def test_select_picks_a_head_and_the_top_rows(case):
    table, _ = case
    top = suspects.select(table, head="age", top=7)
    assert len(top) == 7 and set(top["attribute"]) == {"age"}
    assert top["score"].is_monotonic_increasing
    assert len(suspects.select(table, head="all", issues_only=True)) == int(table["is_issue"].sum())
    with pytest.raises(ValueError, match="unknown head 'hair'.*gender, race, age, all"):
        suspects.select(table, head="hair")


def test_age_groups_are_ranked_where_only_the_group_is_known():
    features, manifest, _ = constructed()
    manifest["age"] = np.nan  # FairFace: ranges only
    table = suspects.find_suspects(features, manifest, race_classes=RACES)
    assert set(table["attribute"]) == {"gender", "race", "age_group"}
    assert set(table.loc[table["attribute"] == "age_group", "given"]) <= set(labels.AGE_GROUPS)


@pytest.mark.parametrize("kwargs, message", [
    ({"folds": 1}, "folds must be an integer >= 2"),
    ({"features": np.zeros((3, 2))}, "3 embeddings for 600 images"),
])
def test_bad_arguments_are_refused(kwargs, message):
    features, manifest, _ = constructed()
    with pytest.raises(ValueError, match=message):
        suspects.find_suspects(**{"features": features, "manifest": manifest,
                                  "race_classes": RACES, **kwargs})

