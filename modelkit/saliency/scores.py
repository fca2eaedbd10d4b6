"""What a saliency map explains, per head: the score functions and the predictions.

tf-keras-vis wants one score function per model output; the head explained gives its
score per image, the other heads zeros (``score_functions``).

* gender, race: the log-odds of the class (predicted, or chosen) against the other
  classes, from the head's logits (``layers.linear_heads``). A confident softmax has
  almost no gradient, the log-odds keeps one.
* age: the expected age in years (the model's predicted age, DEX); or, with a class
  (an age group), the log-odds of the probability mass inside that group.

The expected age and the year -> age group matrix are the model's own
(``modelkit.objectives.expected_age``, ``age_group_matrix``), so saliency scores the
age the model predicts.

Example::

    probs = predict_heads(model, faces)          # head -> (N, k) probabilities
    expected_age(probs["age"])                   # (N,) years
"""

from __future__ import annotations

import numpy as np

from modelkit import labels
from modelkit.models.rows import age_group_probs, expected_age
from modelkit.models.run_model import model_inputs

__all__ = ["age_group_probs", "expected_age", "predict_heads", "resolve_classes", "score_functions"]
from modelkit.saliency.layers import Prepared


def predict_heads(model, images, *, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each head's probabilities for raw 0..255 images (made the model's input as the
    pipeline makes it, ``modelkit.models.run_model.model_inputs``).

    Calls the model directly per chunk: ``model.predict`` costs several times more on
    the one to sixteen faces the dashboard explains at a time."""
    batch = model_inputs(model, images)
    chunks = [_listify(model(batch[start:start + batch_size], training=False))
              for start in range(0, len(batch), batch_size)]
    return {name: np.concatenate([np.asarray(chunk[i]) for chunk in chunks])
            for i, name in enumerate(model.output_names)}


def _age_group_matrix(n_years: int) -> np.ndarray:
    """The model's (years, groups) 0/1 matrix for an age head of ``n_years`` units."""
    from modelkit.objectives import age_group_matrix

    return age_group_matrix()[:n_years]


def _listify(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def resolve_classes(probs: dict[str, np.ndarray], *, head: str, class_index, n: int):
    """Per-image class indices: the predicted class (None), or the one(s) asked for.
    For the age head, None means "expected age" and stays None.

    Raises:
        ValueError: a class index outside the head's classes.
    """
    if class_index is None:
        if head == "age":
            return None
        return np.argmax(probs[head], axis=-1).astype(np.int32)
    indices = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (n,)).copy()
    n_classes = len(labels.AGE_GROUPS) if head == "age" else probs[head].shape[-1]
    if indices.min() < 0 or indices.max() >= n_classes:
        raise ValueError(f"class_index {class_index!r} out of range for the {head} head, "
                         f"which has {n_classes} classes (0..{n_classes - 1})")
    return indices


def score_functions(prepared: Prepared, *, head: str, class_indices: np.ndarray | None):
    """One score function per model output, in the model's output order: ``head``'s
    score per image (see the module docstring), zeros for the other heads."""
    import tensorflow as tf

    from modelkit.objectives import expected_age as dex

    names = list(prepared.model.output_names)
    is_logits = prepared.logits[head]

    def probabilities(output):
        return tf.nn.softmax(output, axis=-1) if is_logits else output

    def log_odds(output, member):
        """log P(member) - log P(not member), stably from logits when there are some."""
        if is_logits:
            inside = tf.where(member, output, -np.inf)
            outside = tf.where(member, -np.inf, output)
            return tf.reduce_logsumexp(inside, -1) - tf.reduce_logsumexp(outside, -1)
        p_in = tf.reduce_sum(tf.where(member, output, 0.0), -1)
        return tf.math.log(p_in + 1e-7) - tf.math.log(1.0 - p_in + 1e-7)

    def score(output):
        if head == "age" and class_indices is None:
            return dex(probabilities(output))
        if head == "age":
            groups = tf.constant(_age_group_matrix(output.shape[-1]))  # (years, groups)
            member = tf.gather(tf.transpose(groups), class_indices) > 0.5  # (N, years)
            return log_odds(output, member)
        member = tf.one_hot(class_indices, output.shape[-1]) > 0.5
        return log_odds(output, member)

    def inactive(output):
        return tf.zeros_like(output[:, 0])

    return [score if name == head else inactive for name in names]
