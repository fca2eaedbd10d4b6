"""A model's raw outputs -> FaceScope's per-head probabilities, checked against its card.

Each head comes back in FaceScope's terms: ``gender`` as probabilities in
``labels.GENDERS`` order, ``race`` in the card's classes order (its vocabulary is named
by :func:`modelkit.outside.card.race_vocabulary`), and an age head as two readings:
``age`` in years and ``age_group``, the mass on each of ``labels.AGE_GROUPS``. Read as
a number, the age's group gets all the mass; as bins, each bin's mass goes to the
group holding its age and the age is the bins' expected value; as groups, the age is
the expected group midpoint. A wrong shape or probabilities that do not sum to 1 is a
``ValueError`` naming the output.
"""

from __future__ import annotations

import numpy as np

from modelkit import labels
from modelkit.outside.card import HeadOutput, ModelCard, gender_index

SUM_TOLERANCE = 1e-3


def read_heads(card: ModelCard, outputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``{reading: array}`` for the card's heads (an age head gives ``age`` and
    ``age_group``), from ``outputs`` of a batch of ``n`` faces."""
    readings = {}
    for head in card.heads:
        value = _read(card, head, outputs, n)
        if head.head != "age":
            readings[head.head] = value
        elif head.age == "groups":
            midpoints = np.array([labels.AGE_GROUP_MIDPOINTS[g] for g in labels.AGE_GROUPS])
            readings.update(age=value @ midpoints, age_group=value)
        elif head.age == "bins":
            readings.update(age=value @ np.asarray(head.bin_ages, dtype=np.float64),
                            age_group=value @ _group_matrix(head.bin_ages))
        else:
            readings.update(age=value[:, 0], age_group=_group_matrix(value[:, 0]))
    return readings


def _group_matrix(ages) -> np.ndarray:
    """(len(ages), groups): 1 where an age falls in a group (ages clipped into range)."""
    codes = np.asarray(labels.age_to_group(np.clip(np.asarray(ages, dtype=np.float64),
                                                   0, labels.MAX_AGE)).codes)
    return np.eye(len(labels.AGE_GROUPS))[codes]


def _read(card: ModelCard, head: HeadOutput, outputs: dict[str, np.ndarray], n: int) -> np.ndarray:
    where = f"model {card.name!r}, output {head.output!r} ({head.head})"
    if head.output not in outputs:
        raise ValueError(f"{where}: the model has no such output; its outputs are "
                         f"{', '.join(outputs)}")
    values = np.asarray(outputs[head.output], dtype=np.float64)
    width = head.width()
    if values.shape in ((n,), (n, 1)) and width == 1:
        values = values.reshape(n, 1)
    if values.shape != (n, width):
        raise ValueError(f"{where}: shape {values.shape}, the card expects ({n}, {width})")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where}: the model gave NaN or infinite values")
    if head.age == "number":
        return values
    sums = values.sum(axis=1)
    if np.any(values < -SUM_TOLERANCE) or not np.allclose(sums, 1.0, atol=SUM_TOLERANCE):
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        raise ValueError(f"{where}: the probabilities do not sum to 1 (one face's sum to "
                         f"{worst:.4f}); is the softmax missing from the model?")
    if head.head == "gender":
        return values[:, gender_index(head.classes)]
    return values
