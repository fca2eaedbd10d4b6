"""Label vocabularies: the one place that says what the attribute values are.

Every reader maps its source's own codes onto these values, the model's heads are
sized from them, and the dashboard draws them in this order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ATTRIBUTES = ("age_group", "gender", "race")
HEADS = ("gender", "race", "age")
SPLITS = ("train", "val", "test")

GENDERS = ("male", "female")
AGE_GROUPS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
# Lower and upper edges (inclusive lower, exclusive upper) of each age group in years.
AGE_GROUP_EDGES = (0, 3, 10, 20, 30, 40, 50, 60, 70)
# The age that stands for a group when only the group is known (FairFace): the
# range's midpoint; 70+ has no upper edge, so 75 is used by convention.
AGE_GROUP_MIDPOINTS = {
    "0-2": 1.0, "3-9": 6.0, "10-19": 14.5, "20-29": 24.5, "30-39": 34.5,
    "40-49": 44.5, "50-59": 54.5, "60-69": 64.5, "70+": 75.0,
}
# The one age range, in years, inclusive: the age head's bins (0..MAX_AGE) and what
# every reader accepts (``age_out_of_range``). A source age outside it is refused where
# it is read, so training and evaluation see the same ages.
MIN_AGE = 0
MAX_AGE = 100
AGE_RANGE = f"{MIN_AGE}..{MAX_AGE}"

UTKFACE_RACES = ("White", "Black", "Asian", "Indian", "Others")
FAIRFACE_RACES = (
    "White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian",
    "Indian", "Middle Eastern",
)
# The synthetic set uses UTKFace's classes so a model trained on it reads the same.
SYNTHETIC_RACES = UTKFACE_RACES

NOT_LABELLED = "not labelled"


def age_to_group(age) -> pd.Categorical:
    """Map ages in years (array-like, NaN allowed) to the ordered age-group category."""
    ages = np.asarray(pd.to_numeric(pd.Series(age), errors="coerce"), dtype=float)
    codes = np.searchsorted(np.asarray(AGE_GROUP_EDGES), ages, side="right") - 1
    codes = np.where(np.isnan(ages) | (ages < 0), -1, codes)
    return pd.Categorical.from_codes(codes, categories=list(AGE_GROUPS), ordered=True)


def age_out_of_range(ages) -> np.ndarray:
    """Boolean mask: True where a known age in years (array-like) lies outside
    ``MIN_AGE..MAX_AGE`` (inclusive; infinities too). Unknown ages (NaN, None) are not
    out of range.

    >>> age_out_of_range([-1, 0, 100, 105, None]).tolist()
    [True, False, False, True, False]
    """
    years = pd.to_numeric(pd.Series(np.ravel(np.asarray(ages, dtype=object))), errors="coerce")
    years = years.to_numpy(dtype=float, na_value=np.nan)
    return ~np.isnan(years) & ~((years >= MIN_AGE) & (years <= MAX_AGE))


# ----------------------------------------------------------------- mappings between sources
# Race vocabularies by name: what a run's or an evaluation set's class list is matched to.
RACE_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "utkface": UTKFACE_RACES, "fairface": FAIRFACE_RACES,
}
# How a finer race vocabulary folds into a coarser one, keyed (finer, coarser). Every class
# of the finer one appears once. Predicting on another dataset (``modelkit.prediction``)
# compares labels in the coarser vocabulary: a set's own classes when they are finer than
# the model's (its finer labels are kept for grouping), the model's summed probabilities
# when the model's are the finer. Add an entry here (and to docs/CONTRACTS.md, "Label
# mappings") to evaluate across another pair of vocabularies.
RACE_MAPPINGS: dict[tuple[str, str], dict[str, str]] = {
    ("fairface", "utkface"): {
        "White": "White", "Black": "Black", "East Asian": "Asian", "Southeast Asian": "Asian",
        "Indian": "Indian", "Middle Eastern": "Others", "Latino_Hispanic": "Others",
    },
}
