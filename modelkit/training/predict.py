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

from modelkit import labels, pipeline
from modelkit.models.rows import label_predictions


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
    outputs = model.predict(ds, verbose=0) if len(manifest) else (
        np.zeros((0, 2)), np.zeros((0, len(race_classes))), np.zeros((0, labels.MAX_AGE + 1)))
    predicted = label_predictions(*outputs, race_classes=race_classes, heads=trained_heads)
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
    frame = pd.concat([truth, predicted], axis=1)
    first = ["path", "split", "gender_true", "gender_pred", "race_true", "race_pred", "age_group_true",
             "age_group_pred", "age_true", "age_pred", "age_true_is_midpoint"]
    return frame[first + [c for c in frame.columns if c not in first]]


def _as_strings(column: pd.Series) -> np.ndarray:
    values = column.astype(object).to_numpy()
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
