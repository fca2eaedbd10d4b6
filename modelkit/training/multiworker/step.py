"""The multi-worker training and evaluation steps, under ``strategy.run``.

Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` on TF 2.21
(keras-team/keras#20585), so these steps do what ``fit`` would: the masked per-head
losses and loss weights of ``model.compile`` (``modelkit.objectives.head_losses``), and the
compiled optimizer's ``apply_gradients``, which all-reduces the gradients across
the replicas. Each replica also returns sums (per head: loss × labelled images, the
labelled count, hits, absolute age error) that add up across replicas and steps
into exact epoch metrics under Keras's names (:func:`epoch_logs`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from modelkit import objectives

CLASS_HEADS = ("gender", "race")


class DistributedSteps:
    """``train(batch, cancel)`` and ``evaluate(batch)`` for ``model`` (built and
    compiled under ``strategy.scope()``): each returns a dict of sums over all
    replicas as Python floats; ``train``'s also holds ``cancel`` (the flags summed)."""

    def __init__(self, model: keras.Model, *, strategy: tf.distribute.Strategy,
                 loss_weights: dict[str, float], losses: dict):
        self.model, self.strategy = model, strategy
        self.replicas = strategy.num_replicas_in_sync
        self.heads = list(model.output_names)
        self.losses = objectives.head_losses(**losses)  # objectives.loss_settings(config)
        self.weights = {h: 1.0 for h in self.heads} | {
            h: float(w) for h, w in (loss_weights or {}).items() if h in self.heads}
        self._train = tf.function(self._train_global)
        self._evaluate = tf.function(self._evaluate_global)

    def train(self, batch, cancel: bool) -> dict[str, float]:
        stats = self._train(batch, tf.constant(float(cancel)))
        return {k: float(v) for k, v in stats.items()}

    def evaluate(self, batch) -> dict[str, float]:
        return {k: float(v) for k, v in self._evaluate(batch).items()}

    # -- inside the tf.function
    def _replica_stats(self, x, y, *, training: bool):
        """This replica's weighted batch loss (for the gradient) and its sums."""
        outputs = dict(zip(self.heads, self.model(x, training=training), strict=True))
        known = {h: tf.reshape(tf.cast(y[h], "int32"), [-1]) >= 0
                 for h in CLASS_HEADS if h in self.heads}
        if "age" in self.heads:
            age, _, known["age"] = objectives.age_true(y["age"])
            error = tf.abs(objectives.expected_age(outputs["age"]) - age)
        stats, total = {"images": tf.cast(tf.shape(x)[0], "float32")}, 0.0
        for head in self.heads:
            loss = tf.cast(self.losses[head](y[head], outputs[head]), "float32")
            total += self.weights[head] * loss
            count = tf.reduce_sum(tf.cast(known[head], "float32"))
            stats |= {f"{head}_loss_sum": loss * count, f"{head}_known": count}
            if head == "age":
                stats["age_error"] = tf.reduce_sum(tf.where(known[head], error, 0.0))
            else:
                true = tf.reshape(tf.cast(y[head], "int32"), [-1])
                hit = tf.equal(tf.argmax(outputs[head], -1, output_type="int32"), true)
                stats[f"{head}_hits"] = tf.reduce_sum(tf.cast(hit & known[head], "float32"))
        return stats, total

    def _train_replica(self, x, y, cancel):
        with tf.GradientTape() as tape:
            stats, total = self._replica_stats(x, y, training=True)
            # The SUM all-reduce of the gradients then averages over the replicas.
            scaled = self.model.optimizer.scale_loss(total / self.replicas)
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.model.optimizer.apply_gradients(zip(grads, variables, strict=True))
        return stats | {"cancel": cancel}

    def _evaluate_replica(self, x, y):
        return self._replica_stats(x, y, training=False)[0]

    def _summed(self, per_replica: dict) -> dict:
        add = tf.distribute.ReduceOp.SUM
        return {k: self.strategy.reduce(add, v, axis=None) for k, v in per_replica.items()}

    def _train_global(self, batch, cancel):
        x, y = batch
        return self._summed(self.strategy.run(self._train_replica, args=(x, y, cancel)))

    def _evaluate_global(self, batch):
        x, y = batch
        return self._summed(self.strategy.run(self._evaluate_replica, args=(x, y)))


def masked_padding(spec, *, count: int) -> tf.data.Dataset:
    """``count`` rows shaped like ``spec`` (image, targets) with every label -1, which
    the masked losses and metrics ignore: pads validation to whole global batches."""
    image_spec, target_spec = spec
    row = (tf.zeros(image_spec.shape, image_spec.dtype),
           tf.nest.map_structure(lambda t: tf.fill(t.shape, tf.cast(-1, t.dtype)), target_spec))
    return tf.data.Dataset.from_tensors(row).repeat(count)


def accumulate(totals: dict, stats: dict) -> None:
    """Add one step's sums (already summed over the replicas) into ``totals``."""
    for key, value in stats.items():
        totals[key] = totals.get(key, 0.0) + value


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def epoch_logs(totals: dict, weights: dict[str, float]) -> dict:
    """Epoch values under Keras's names: per head the loss over its labelled images,
    ``loss`` their weighted sum (as ``model.compile`` weighs them), accuracies, age
    MAE (None where nothing was labelled), and ``images`` (seen by all workers)."""
    logs = {"images": totals.get("images", 0.0)}
    for head in weights:
        logs[f"{head}_loss"] = _ratio(totals[f"{head}_loss_sum"], totals[f"{head}_known"]) or 0.0
    logs["loss"] = sum(weights[h] * logs[f"{h}_loss"] for h in weights)
    for head in CLASS_HEADS:
        if head in weights:
            logs[f"{head}_accuracy"] = _ratio(totals[f"{head}_hits"], totals[f"{head}_known"])
    if "age" in weights:
        logs["age_mae"] = _ratio(totals["age_error"], totals["age_known"])
    return logs
