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
    columns.

    Raises:
        ValueError: outputs whose shapes do not match the vocabularies.
    """
    gender_p, race_p, age_p = (np.asarray(p, dtype=np.float64) for p in (gender_p, race_p, age_p))
    n, classes = len(gender_p), list(race_classes)
    if gender_p.shape != (n, len(labels.GENDERS)) or race_p.shape != (n, len(classes)) \
            or len(age_p) != n:
        raise ValueError(f"expected outputs shaped ({n}, {len(labels.GENDERS)}), ({n}, {len(classes)}) "
                         f"and ({n}, years) for race classes {classes}; got {gender_p.shape}, "
                         f"{race_p.shape}, {age_p.shape}")
    ages = expected_age(age_p) if n else np.zeros(0)
    groups = age_group_probs(age_p) if n else np.zeros((0, len(labels.AGE_GROUPS)))
    frame = pd.DataFrame({
        "gender_pred": _argmax(gender_p, labels.GENDERS, "gender" in heads),
        "race_pred": _argmax(race_p, classes, "race" in heads),
        "age_pred": ages,
        "age_group_pred": np.asarray(labels.age_to_group(ages).astype(object)),
    })
    probs = {f"prob_{name}_{c}": p[:, j]
             for name, p, names in (("gender", gender_p, labels.GENDERS), ("race", race_p, classes),
                                    ("age_group", groups, labels.AGE_GROUPS))
             for j, c in enumerate(names)}
    return pd.concat([frame, pd.DataFrame(probs, index=frame.index)], axis=1)


def _argmax(probs: np.ndarray, classes, trained: bool) -> np.ndarray:
    if not trained:
        return np.full(len(probs), None, dtype=object)
    if not len(probs):
        return np.zeros(0, dtype=object)
    return np.asarray(list(classes), dtype=object)[probs.argmax(axis=1)]
