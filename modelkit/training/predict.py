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
from modelkit.models.rows import label_predictions, with_truth


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
    return with_truth(manifest, label_predictions(*outputs, race_classes=race_classes,
                                                  heads=trained_heads))
