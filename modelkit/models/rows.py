"""The heads' probabilities turned into labelled predictions, in one place.

Every path that runs a model (a dataset's ``predictions.parquet``, an evaluation set,
a photo's faces, the dashboard's captions) reads its three outputs the same way: the
predicted class of each head the run trained (a head it never trained is ``None``, not
noise), the expected age in years (DEX: the softmax's expectation over the years,
``modelkit.objectives.expected_age``, the one formula the loss, saliency and the
exported signature also use), the age group that holds it, and each class's
probability under the column names of docs/CONTRACTS.md (``prob_<head>_<class>``).

Example::

    gender_p, race_p, age_p = model.predict(images)
    table = label_predictions(gender_p, race_p, age_p, race_classes=["White", ...],
                              heads={"gender", "race", "age"})
    table[["gender_pred", "age_pred", "age_group_pred"]]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from modelkit import labels

ORIGINAL_PATH = "original_path"  # modelkit.data.faces.crops.align_dataset's column
# The predictions table's leading columns (docs/CONTRACTS.md); the probabilities follow.
TABLE_FIRST = ["path", "split", "gender_true", "gender_pred", "race_true", "race_pred",
               "age_group_true", "age_group_pred", "age_true", "age_pred", "age_true_is_midpoint"]


def expected_age(age_probs) -> np.ndarray:
    """(N,) predicted ages in years from the age head's (N, years) softmax."""
    from modelkit.objectives import expected_age as dex

    return np.asarray(dex(np.asarray(age_probs, dtype=np.float32)), dtype=np.float64)


def age_group_probs(age_probs) -> np.ndarray:
    """(N, groups) probability mass of each age group, in ``labels.AGE_GROUPS`` order."""
    from modelkit.objectives import age_group_matrix

    probs = np.asarray(age_probs, dtype=np.float64)
    return probs @ age_group_matrix()[: probs.shape[-1]]


def label_predictions(gender_p, race_p, age_p, *, race_classes: Sequence[str],
                      heads: Collection[str] = labels.HEADS) -> pd.DataFrame:
    """One row per image: ``gender_pred``, ``race_pred``, ``age_pred`` (years),
    ``age_group_pred`` and the ``prob_gender_*``, ``prob_race_*``, ``prob_age_group_*``
    columns, from a FaceScope model's three softmax outputs.

    Raises:
        ValueError: outputs whose shapes do not match the vocabularies.
    """
    age_p = np.asarray(age_p, dtype=np.float64)
    n = len(age_p)
    return label_readings(gender_p, race_p, expected_age(age_p) if n else np.zeros(0),
                          age_group_probs(age_p) if n else np.zeros((0, len(labels.AGE_GROUPS))),
                          race_classes=race_classes, heads=heads, n=n)


def label_readings(gender_p, race_p, ages, group_p, *, race_classes: Sequence[str],
                   heads: Collection[str], n: int) -> pd.DataFrame:
    """:func:`label_predictions` from readings already in FaceScope's terms, for any
    model: gender (N, 2) in ``labels.GENDERS`` order, race (N, classes), ages (N,) in
    years, age-group mass (N, groups). A reading that is ``None`` (a head the model
    does not have) gives null predictions and NaN probabilities; a head not in
    ``heads`` gives null predictions."""
    classes = list(race_classes)
    shapes = {"gender": (n, len(labels.GENDERS)), "race": (n, len(classes)),
              "age": (n,), "age_group": (n, len(labels.AGE_GROUPS))}
    given = dict(zip(shapes, (gender_p, race_p, ages, group_p), strict=True))
    readings = {}
    for name, shape in shapes.items():
        value = np.full(shape, np.nan) if given[name] is None else np.asarray(given[name], np.float64)
        if value.shape != shape:
            raise ValueError(f"expected the {name} reading shaped {shape} (race classes "
                             f"{classes}); got {value.shape}")
        readings[name] = value
    has = {name: given[name] is not None and name.split("_")[0] in heads for name in shapes}
    ages = readings["age"]
    frame = pd.DataFrame({
        "gender_pred": _argmax(readings["gender"], labels.GENDERS, has["gender"]),
        "race_pred": _argmax(readings["race"], classes, has["race"]),
        "age_pred": ages,
        "age_group_pred": np.asarray(labels.age_to_group(ages).astype(object)),
    })
    probs = {f"prob_{name}_{c}": readings[name][:, j]
             for name, names in (("gender", labels.GENDERS), ("race", classes),
                                 ("age_group", labels.AGE_GROUPS))
             for j, c in enumerate(names)}
    return pd.concat([frame, pd.DataFrame(probs, index=frame.index)], axis=1)


def with_truth(manifest: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The predictions table of docs/CONTRACTS.md: ``manifest``'s paths, splits and true
    labels (an age group's midpoint standing in for an unknown age, flagged in
    ``age_true_is_midpoint``) beside the rows of ``predicted``, in the contract's order;
    for aligned crops, ``original_path`` too, so they can be matched to their images."""
    age_true = manifest["age"].astype(float).to_numpy()
    midpoints = manifest["age_group"].astype(object).map(labels.AGE_GROUP_MIDPOINTS).astype(float)
    is_midpoint = np.isnan(age_true) & midpoints.notna().to_numpy()
    truth = pd.DataFrame({
        "path": manifest["path"].astype(str).to_numpy(),
        "split": manifest["split"].astype(object).to_numpy(),
        "gender_true": _as_strings(manifest["gender"]),
        "race_true": _as_strings(manifest["race"]),
        "age_group_true": _as_strings(manifest["age_group"]),
        "age_true": np.where(is_midpoint, midpoints.to_numpy(), age_true),
        "age_true_is_midpoint": is_midpoint,
    })
    if ORIGINAL_PATH in manifest.columns:  # an aligned crop: the image it was cut from
        truth.insert(1, ORIGINAL_PATH, manifest[ORIGINAL_PATH].astype(str).to_numpy())
    frame = pd.concat([truth, predicted.reset_index(drop=True)], axis=1)
    return frame[TABLE_FIRST + [c for c in frame.columns if c not in TABLE_FIRST]]


def _as_strings(column: pd.Series) -> np.ndarray:
    values = column.astype(object).to_numpy()
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _argmax(probs: np.ndarray, classes, trained: bool) -> np.ndarray:
    if not trained:
        return np.full(len(probs), None, dtype=object)
    if not len(probs):
        return np.zeros(0, dtype=object)
    return np.asarray(list(classes), dtype=object)[probs.argmax(axis=1)]
