"""A small hand-made predictions table (docs/CONTRACTS.md's columns) and the figures
of evaluate computed independently, by hand (plain numpy/pandas: no sklearn, no
fairlearn), for the evaluate, compare and calibration tests and their pages."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from modelkit import labels

RACES = list(labels.UTKFACE_RACES)  # Indian and Others: never true, never predicted
NAN = float("nan")

# gender_t, gender_p, race_t, race_p, age_group_t, age_group_p, age_t, age_p
ROWS = [
    ("male", "male", "White", "White", "20-29", "20-29", 25, 27),
    ("male", "female", "White", "Black", "20-29", "30-39", 28, 35),
    ("female", "female", "White", "White", "30-39", "30-39", 33, 31),
    ("female", "female", "Black", "Black", "30-39", "20-29", 36, 29),
    ("female", "male", "Black", "White", "20-29", "20-29", 22, 24),
    ("male", "male", "Black", "Black", "40-49", "40-49", 45, 41),
    ("male", "male", "Black", "Asian", "40-49", "50-59", 47, 55),
    ("female", "female", "Asian", "White", "20-29", "20-29", 21, 20),   # the one Asian face
    ("male", "female", None, "White", "70+", "60-69", 75, 66),          # 70+: no race labels
    ("female", "female", None, "Black", "70+", "70+", 80, 78),
    ("male", "male", "White", "White", "40-49", "40-49", 41, 44),
    ("female", "male", "White", "White", "20-29", "20-29", 26, 23),
    ("female", "female", "White", "White", "30-39", "30-39", NAN, 38),  # age unknown
    (None, "male", "Black", "Black", "20-29", "20-29", 24, 26),         # gender unknown
]
VAL_ROWS = [
    ("male", "male", "White", "White", "20-29", "20-29", 25, 25),
    ("female", "male", "Black", "Black", "30-39", "30-39", 35, 30),
]


def make_predictions(rows=ROWS, val_rows=VAL_ROWS, *, seed=0, midpoint=False) -> pd.DataFrame:
    """A predictions table following docs/CONTRACTS.md, probabilities drawn at random
    but with the predicted class holding the largest share."""
    rng = np.random.default_rng(seed)
    columns = ["gender_true", "gender_pred", "race_true", "race_pred", "age_group_true",
               "age_group_pred", "age_true", "age_pred"]
    frame = pd.DataFrame(list(rows) + list(val_rows), columns=columns)
    frame.insert(0, "split", ["test"] * len(rows) + ["val"] * len(val_rows))
    frame.insert(0, "path", [f"/faces/{i}.png" for i in range(len(frame))])
    frame["age_true"] = frame["age_true"].astype(float)
    frame["age_pred"] = frame["age_pred"].astype(float)
    frame["age_true_is_midpoint"] = midpoint
    for head, classes in (("gender", labels.GENDERS), ("race", RACES), ("age_group", labels.AGE_GROUPS)):
        probs = rng.dirichlet(np.ones(len(classes)), len(frame)) * 0.5
        for i, name in enumerate(frame[f"{head}_pred"]):
            probs[i, list(classes).index(name)] += 0.5
        for j, name in enumerate(classes):
            frame[f"prob_{head}_{name}"] = probs[:, j]
    return frame


def expected_figures(rows: pd.DataFrame, head: str) -> dict[str, float]:
    """Figures of one head over ``rows``, by hand: no sklearn, no fairlearn."""
    if head == "age":
        rows = rows[rows["age_true"].notna()]
        error = (rows["age_pred"] - rows["age_true"]).abs().to_numpy()
        return {"age_mae": error.mean() if len(error) else NAN,
                "age_median_ae": float(np.median(error)) if len(error) else NAN}
    rows = rows[rows[f"{head}_true"].notna()]
    t, p = rows[f"{head}_true"].to_numpy(object), rows[f"{head}_pred"].to_numpy(object)
    classes = {"gender": labels.GENDERS, "race": RACES, "age_group": labels.AGE_GROUPS}[head]
    if len(t) == 0:
        return {f"{head}_{m}": NAN for m in ("accuracy", "balanced_accuracy", "macro_f1")} | {
            f"{head}_recall_{c}": NAN for c in classes}
    recall = {c: float(np.mean(p[t == c] == c)) if (t == c).any() else NAN for c in classes}
    union = [c for c in classes if (t == c).any() or (p == c).any()]
    f1 = [2 * np.sum((t == c) & (p == c)) / (np.sum(t == c) + np.sum(p == c)) for c in union]
    out = {f"{head}_accuracy": float(np.mean(t == p)),
           f"{head}_balanced_accuracy": float(np.mean([recall[c] for c in classes if (t == c).any()])),
           f"{head}_macro_f1": float(np.mean(f1))}
    return out | {f"{head}_recall_{c}": r for c, r in recall.items()}


def same(a, b) -> bool:
    return (a is None or (isinstance(a, float) and math.isnan(a))) and \
        (b is None or (isinstance(b, float) and math.isnan(b))) or \
        (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))


def random_rows(n: int, *, seed: int, accuracy: float = 0.7) -> list[tuple]:
    """``n`` test rows with random labels; a prediction right about ``accuracy`` of the time."""
    rng = np.random.default_rng(seed)
    races, groups = list(labels.UTKFACE_RACES), list(labels.AGE_GROUPS)
    out = []
    for _ in range(n):
        gender, race, group = rng.choice(labels.GENDERS), rng.choice(races), rng.choice(groups)
        age = float(rng.integers(1, 90))

        def guess(truth, vocabulary):
            return truth if rng.random() < accuracy else rng.choice(vocabulary)
        out.append((gender, guess(gender, labels.GENDERS), race, guess(race, races), group,
                    guess(group, groups), age, age + float(rng.normal(0, 5))))
    return out
