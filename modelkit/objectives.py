"""What each head is trained and scored on: the masked losses and metrics of the shared
model, the DEX age bins, and the loss settings a ``TrainConfig`` carries.

A missing label (-1) masks that head's loss and metrics for that image, so a source
without race labels still trains the others. Age is a softmax over whole years 0..100
(DEX, Rothe et al., ICCVW 2015); the predicted age is its expected value. The classes
are registered with Keras (package ``facescope``), so a saved ``model.keras`` loads once
this module is imported (``modelkit.model`` imports it).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from modelkit import labels
from modelkit.labels import MAX_AGE

AGES = np.arange(MAX_AGE + 1, dtype="float32")


def age_group_matrix() -> np.ndarray:
    """(101, n_groups) 0/1 matrix: which age group each year 0..100 belongs to."""
    codes = np.asarray(labels.age_to_group(AGES).codes)
    return np.eye(len(labels.AGE_GROUPS), dtype="float32")[codes]


# ----------------------------------------------------------------------------- losses
@keras.saving.register_keras_serializable(package="facescope")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy that ignores labels < 0 (missing).

    Returns the mean over the labelled images of the batch (0 when none is labelled),
    so a head's loss scale does not depend on how many of its labels are missing.
    ``label_smoothing`` spreads that share of each target over all classes (Szegedy et
    al., 2016): a soft target for faces whose label is uncertain."""

    def __init__(self, label_smoothing: float = 0.0, name="masked_sparse_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = tf.reshape(tf.cast(y_true, "int32"), [-1])
        mask = tf.cast(y_true >= 0, y_pred.dtype)
        if self.label_smoothing:
            per_image = keras.losses.categorical_crossentropy(
                tf.one_hot(tf.maximum(y_true, 0), tf.shape(y_pred)[-1], dtype=y_pred.dtype),
                y_pred, label_smoothing=self.label_smoothing)
        else:
            per_image = keras.losses.sparse_categorical_crossentropy(
                tf.maximum(y_true, 0), y_pred)
        return tf.math.divide_no_nan(tf.reduce_sum(per_image * mask), tf.reduce_sum(mask))

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="facescope")
class DexAgeLoss(keras.losses.Loss):
    """The age head's loss. ``y_true`` is (batch, 2): [age in years or -1, age-group
    code or -1].

    - years known: cross-entropy on the year bin, the target spread as a Gaussian of
      ``sigma`` years over neighbouring bins (0 = one-hot): neighbouring ages are
      nearly right, and a face's age is uncertain by a few years anyway;
    - only the group known (FairFace): -log(sum of p over the group's years);
    - neither: masked.

    ``l1`` adds that many times the absolute error, in years, of the expected age (the
    prediction MAE measures), for the images whose years are known: the cross-entropy
    alone does not care how far off the mass is.
    """

    def __init__(self, sigma: float = 2.0, l1: float = 0.0, name="dex_age_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sigma, self.l1 = float(sigma), float(l1)

    def call(self, y_true, y_pred):
        y_true = tf.cast(tf.reshape(y_true, [-1, 2]), "float32")
        y_pred = tf.clip_by_value(tf.cast(y_pred, "float32"), 1e-7, 1.0)
        years, group = y_true[:, 0], tf.cast(y_true[:, 1], "int32")
        has_years = years >= 0
        has_group = tf.logical_and(tf.logical_not(has_years), group >= 0)
        year_loss = -tf.reduce_sum(self._year_target(years) * tf.math.log(y_pred), axis=-1)
        if self.l1:
            year_loss += self.l1 * tf.abs(expected_age(y_pred) - years)
        group_p = tf.matmul(y_pred, tf.constant(age_group_matrix()))
        group_loss = -tf.math.log(tf.clip_by_value(
            tf.gather(group_p, tf.maximum(group, 0), batch_dims=1), 1e-7, 1.0))
        per_image = tf.where(has_years, year_loss, tf.where(has_group, group_loss, 0.0))
        n = tf.reduce_sum(tf.cast(tf.logical_or(has_years, has_group), "float32"))
        return tf.math.divide_no_nan(tf.reduce_sum(per_image), n)

    def _year_target(self, years):
        ages = tf.constant(AGES)[None, :]
        # A guard only: every reader refuses ages outside labels.MIN_AGE..MAX_AGE (the
        # head's bins), so a known age is never moved here and training's target is the
        # age evaluation scores against. (-1, unknown, is masked by the caller.)
        centre = tf.clip_by_value(years, float(labels.MIN_AGE), float(MAX_AGE))[:, None]
        if self.sigma <= 0:
            return tf.cast(tf.equal(ages, tf.round(centre)), "float32")
        weights = tf.exp(-0.5 * tf.square((ages - centre) / self.sigma))
        return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "l1": self.l1}


# ---------------------------------------------------------------------------- metrics
def expected_age(probabilities):
    """DEX: the predicted age is the expected value of the softmax over years.

    The one formula for it: the loss and metrics, saliency's age score, the exported
    signature and every prediction table (``modelkit.models.rows``) call this."""
    probabilities = tf.cast(probabilities, "float32")
    return tf.reduce_sum(probabilities * tf.constant(AGES[: probabilities.shape[-1]]), axis=-1)


def age_true(y_true):
    """(years to compare with, group code, labelled mask) from the (batch, 2) target:
    years when known, else the group's midpoint (FairFace), else masked."""
    y_true = tf.cast(tf.reshape(y_true, [-1, 2]), "float32")
    years, group = y_true[:, 0], tf.cast(y_true[:, 1], "int32")
    midpoints = tf.constant([labels.AGE_GROUP_MIDPOINTS[g] for g in labels.AGE_GROUPS])
    age = tf.where(years >= 0, years, tf.gather(midpoints, tf.maximum(group, 0)))
    return age, group, tf.logical_or(years >= 0, group >= 0)


@keras.saving.register_keras_serializable(package="facescope")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy over the images whose label is known (label >= 0)."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(tf.cast(y_true, "int32"), [-1])
        hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1, output_type="int32"), y_true), "float32")
        return super().update_state(hit, sample_weight=tf.cast(y_true >= 0, "float32"))


@keras.saving.register_keras_serializable(package="facescope")
class AgeMAE(keras.metrics.Mean):
    """Mean absolute error in years of the expected age (against the group midpoint
    where only the group is known)."""

    def __init__(self, name="mae", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        age, _, known = age_true(y_true)
        return super().update_state(tf.abs(expected_age(y_pred) - age),
                                    sample_weight=tf.cast(known, "float32"))


@keras.saving.register_keras_serializable(package="facescope")
class AgeGroupAccuracy(keras.metrics.Mean):
    """Accuracy of the age group holding the expected age."""

    def __init__(self, name="group_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _, group, _ = age_true(y_true)
        edges = tf.constant(labels.AGE_GROUP_EDGES[1:], dtype="float32")
        predicted = tf.reduce_sum(tf.cast(expected_age(y_pred)[:, None] >= edges, "int32"), -1)
        hit = tf.cast(tf.equal(predicted, group), "float32")
        return super().update_state(hit, sample_weight=tf.cast(group >= 0, "float32"))


def head_losses(*, age_sigma: float = 2.0, age_l1: float = 0.0,
                label_smoothing: float = 0.0) -> dict:
    """The per-head losses; the keywords are ``TrainConfig`` fields of the same name."""
    return {"gender": MaskedSparseCrossentropy(label_smoothing),
            "race": MaskedSparseCrossentropy(label_smoothing),
            "age": DexAgeLoss(sigma=age_sigma, l1=age_l1)}


LOSS_SETTINGS = ("age_sigma", "age_l1", "label_smoothing")
"""The ``TrainConfig`` fields that :func:`head_losses` takes."""


def loss_settings(config) -> dict:
    """``head_losses``' keywords from a ``TrainConfig``."""
    return {name: getattr(config, name) for name in LOSS_SETTINGS}


def head_metrics() -> dict:
    return {"gender": [MaskedAccuracy()], "race": [MaskedAccuracy()],
            "age": [AgeMAE(), AgeGroupAccuracy()]}
