"""A model's raw outputs -> FaceScope's per-head probabilities, checked against its card.

Each head comes back in FaceScope's terms: gender as probabilities in
``labels.GENDERS`` order, race in the card's classes order (its vocabulary is named by
:func:`modelkit.outside.card.race_vocabulary`), age as years (a number, or the expected
value of the bins) or as probabilities over ``labels.AGE_GROUPS``. A wrong shape or
probabilities that do not sum to 1 is a ``ValueError`` naming the output.
"""

from __future__ import annotations

import numpy as np

from modelkit.outside.card import HeadOutput, ModelCard, gender_index

SUM_TOLERANCE = 1e-3


def read_heads(card: ModelCard, outputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``{head: array}`` for the card's heads, from ``outputs`` of a batch of ``n`` faces."""
    return {head.head: _read(card, head, outputs, n) for head in card.heads}


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
    if head.age == "number":
        return values[:, 0]
    sums = values.sum(axis=1)
    if np.any(values < -SUM_TOLERANCE) or not np.allclose(sums, 1.0, atol=SUM_TOLERANCE):
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        raise ValueError(f"{where}: the probabilities do not sum to 1 (one face's sum to "
                         f"{worst:.4f}); is the softmax missing from the model?")
    if head.head == "gender":
        return values[:, gender_index(head.classes)]
    if head.age == "bins":
        return values @ np.asarray(head.bin_ages, dtype=np.float64)
    return values
