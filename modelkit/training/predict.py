"""The predictions table of a trained model: one row per evaluation image.

Both trainers write it as ``predictions.parquet`` (columns in docs/CONTRACTS.md):
true and predicted labels, the predicted age, and the class probabilities of every
head, which the Evaluate page and ``modelkit evaluate`` read.
"""

from __future__ import annotations

from collections.abc import Collection

import keras
import numpy as np
import pandas as pd

from modelkit import labels, objectives, pipeline


def predict_frame(
    model: keras.Model,
    manifest: pd.DataFrame,
    *,
    image_size: int,
    batch_size: int,
    race_classes: list[str],
    trained_heads: Collection[str] = labels.HEADS,
    cache: bool = False,
) -> pd.DataFrame:
    """One row per image of ``manifest`` with true and predicted labels and class
    probabilities (the ``predictions.parquet`` columns of docs/CONTRACTS.md).

    A head that never saw a label (not in ``trained_heads``) gets null predictions:
    its output is untrained noise, not a guess worth showing. ``cache``: read the
    images from the image store (``modelkit.pipeline.make_dataset``), as training does."""
    ds = pipeline.make_dataset(manifest, split=None, image_size=image_size,
                               batch_size=batch_size, race_classes=race_classes,
                               training=False, cache=cache).map(lambda x, y: x)
    gender_p, race_p, age_p = (np.asarray(p, dtype="float64") for p in
                               model.predict(ds, verbose=0)) if len(manifest) else (
        np.zeros((0, 2)), np.zeros((0, len(race_classes))), np.zeros((0, labels.MAX_AGE + 1)))
    group_p = age_p @ objectives.age_group_matrix()
    age_pred = age_p @ objectives.AGES
    age_true = manifest["age"].astype(float).to_numpy()
    midpoints = manifest["age_group"].astype(object).map(labels.AGE_GROUP_MIDPOINTS).astype(float)
    is_midpoint = np.isnan(age_true) & midpoints.notna().to_numpy()
    frame = pd.DataFrame({
        "path": manifest["path"].astype(str).to_numpy(),
        "split": manifest["split"].astype(object).to_numpy(),
        "gender_true": _as_strings(manifest["gender"]),
        "gender_pred": _argmax_labels(gender_p, labels.GENDERS, "gender" in trained_heads),
        "race_true": _as_strings(manifest["race"]),
        "race_pred": _argmax_labels(race_p, race_classes, "race" in trained_heads),
        "age_group_true": _as_strings(manifest["age_group"]),
        "age_group_pred": np.asarray(labels.age_to_group(age_pred).astype(object)),
        "age_true": np.where(is_midpoint, midpoints.to_numpy(), age_true),
        "age_pred": age_pred,
        "age_true_is_midpoint": is_midpoint,
    })
    for name, probs, classes in (("gender", gender_p, labels.GENDERS),
                                 ("race", race_p, race_classes),
                                 ("age_group", group_p, labels.AGE_GROUPS)):
        for j, cls in enumerate(classes):
            frame[f"prob_{name}_{cls}"] = probs[:, j]
    return frame


def _as_strings(column: pd.Series) -> np.ndarray:
    values = column.astype(object).to_numpy()
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _argmax_labels(probs: np.ndarray, classes, trained: bool) -> np.ndarray:
    if not trained:
        return np.full(len(probs), None, dtype=object)
    if not len(probs):
        return np.zeros(0, dtype=object)
    return np.asarray(list(classes), dtype=object)[probs.argmax(axis=1)]
