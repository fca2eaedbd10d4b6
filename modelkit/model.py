"""The shared-backbone model: one backbone, three named heads (gender, race, age).

The model takes raw RGB pixels (0..255, input named ``image``) and rescales them
itself, so training, prediction and saliency all feed the same thing. Age is a
DEX-style softmax over whole years 0..100 (Rothe et al., "DEX: Deep EXpectation of
apparent age from a single image", ICCVW 2015): the predicted age is the expected
value, the predicted age group the group holding it. The heads' losses and metrics
are in :mod:`modelkit.objectives`.

Example:
    >>> model = build_model(backbone="small_cnn", image_size=64,
    ...                     race_classes=list(labels.UTKFACE_RACES))
    >>> compile_model(model, lr=1e-3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import keras
import tensorflow as tf

from modelkit import labels
from modelkit.config import BACKBONES, MIN_IMAGE_SIZE, TrainConfig
from modelkit.labels import MAX_AGE
from modelkit.objectives import head_losses, head_metrics, loss_settings
from modelkit.pretrained.dlib_resnet import dlib_resnet
from modelkit.pretrained.transfer import TransferAdam, backbone_variable_paths, freeze_batch_norms
from modelkit.pretrained.weights import application_weights, load_matching_weights

# The from-scratch conv stacks: (filters, conv layers) per stage, a 2x2 max pool between
# stages. The deep one's second convs in stages 2 and 3 cost about 1.4x the time per
# epoch on a CPU; at 18 epochs they bought accuracy on every head (docs/BENCHMARKS.md
# section 3), at the 14 epochs that take small_cnn's 18 epochs' time, nothing.
SMALL_CNN_STAGES = {"small_cnn": ((32, 1), (64, 1), (128, 1), (256, 2)),
                    "small_cnn_deep": ((32, 1), (64, 2), (128, 2), (256, 2))}
LAST_CONV_NAME = "backbone_last_conv"  # dlib_resnet's last ReLU has the same name
BN_MOMENTUM = 0.99  # Keras' own: batch norm's statistics of about the last 100 steps


# --------------------------------------------------------------------------- backbones
def _small_cnn(x, *, stages, bn_momentum: float):
    """A fast from-scratch conv stack: per stage 3x3 conv + batch norm + ReLU layers,
    then 2x2 max pooling (none after the last stage, whose activation is the Grad-CAM
    layer). Few convs at full resolution keep it quick on a CPU."""
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    for stage, (width, depth) in enumerate(stages, start=1):
        for j in range(1, depth + 1):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    name=f"stage{stage}_conv{j}")(x)
            x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"stage{stage}_bn{j}")(x)
            last = stage == len(stages) and j == depth
            x = keras.layers.Activation("relu", name=LAST_CONV_NAME if last else
                                        f"stage{stage}_relu{j}")(x)
        if stage < len(stages):
            x = keras.layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
    return x


def _application(backbone: str, x, *, weights):
    """A keras.applications backbone built on ``x`` (``input_tensor``), so its layers
    are the top model's own layers (reachable for Grad-CAM), not a nested sub-model.

    MobileNetV3 and EfficientNet rescale 0..255 inputs themselves; InceptionResNetV2
    wants [-1, 1], done here with a Rescaling layer."""
    apps = keras.applications
    if backbone == "mobilenet_v3_small":
        app = apps.MobileNetV3Small(input_tensor=x, include_top=False, weights=weights,
                                    include_preprocessing=True)
    elif backbone == "efficientnet_b0":
        app = apps.EfficientNetB0(input_tensor=x, include_top=False, weights=weights)
    else:
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
        app = apps.InceptionResNetV2(input_tensor=x, include_top=False, weights=weights)
    return app.output


def _features(backbone: str, image, *, weights: str, dropout: float, bn_momentum: float):
    """The shared feature vector: backbone -> global average pool -> dropout."""
    if backbone in SMALL_CNN_STAGES:
        x = _small_cnn(image, stages=SMALL_CNN_STAGES[backbone], bn_momentum=bn_momentum)
    elif backbone == "dlib_resnet":
        x = dlib_resnet(image)
    else:
        x = _application(backbone, image, weights=application_weights(backbone, weights))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.layers.Dropout(dropout, name="dropout")(x)


def _head(features, *, name: str, units: int, hidden: int = 0):
    """One head: with ``hidden`` > 0 first a ReLU layer of its own (``NAME_hidden``), so
    each head reshapes the shared features for itself; then a softmax in float32
    (stable under mixed precision), named ``name``."""
    if hidden:
        features = keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden")(features)
    return keras.layers.Dense(units, activation="softmax", dtype="float32", name=name)(features)


def _head_units(race_classes) -> dict[str, int]:
    return {"gender": len(labels.GENDERS), "race": len(race_classes), "age": MAX_AGE + 1}


def _check_args(backbone: str, image_size: int, race_classes, weights) -> None:
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {list(BACKBONES)}")
    if image_size < MIN_IMAGE_SIZE[backbone]:
        raise ValueError(f"image_size={image_size} is too small for {backbone}; "
                         f"use at least {MIN_IMAGE_SIZE[backbone]}")
    if not race_classes:
        raise ValueError("race_classes is empty; pass the source's race classes "
                         "(Dataset.race_classes), even when no image has a race label")
    if weights not in ("none", "imagenet") and not Path(weights).is_file():
        raise FileNotFoundError(f"weights file {weights} not found; expected 'none', "
                                "'imagenet' or the path of a .keras/.weights.h5 file")


def build_model(
    *,
    backbone: str = TrainConfig.backbone,
    image_size: int,
    race_classes: list[str],
    weights: str = "none",
    dropout: float = TrainConfig.dropout,
    head_hidden: int = TrainConfig.head_hidden,
    bn_momentum: float = BN_MOMENTUM,
) -> keras.Model:
    """The shared-backbone model: input ``image`` (S, S, 3) raw 0..255, outputs
    ``gender``, ``race``, ``age`` (softmaxes, in that order). Not compiled.

    Args:
        backbone: the feature extractor; ``TrainConfig.backbone`` is the default.
        image_size: S, the square input side in pixels.
        race_classes: the source's race classes (the race head's units, in order).
        weights: ``none`` (from scratch; dlib_resnet is dlib's trained network
            anyway), ``imagenet`` (keras.applications backbones; downloads), or a file:
            an application's ImageNet ``.h5``, an earlier run's ``.keras``
            (``modelkit.pretrained.weights``).
        dropout: dropout rate on the shared features.
        head_hidden: units of each head's own hidden layer (0: none, the softmaxes
            read the shared features directly).
        bn_momentum: the from-scratch backbones' batch-norm moving-statistics momentum
            (Keras' 0.99 by default; :func:`batch_norm_momentum` fits it to a run's length).

    Raises:
        ValueError: unknown backbone, image too small, no race classes, or
            ``imagenet`` asked for ``small_cnn``.
        FileNotFoundError: ``weights`` is neither a keyword nor an existing file.
    """
    _check_args(backbone, image_size, race_classes, weights)
    if weights == "imagenet" and backbone in SMALL_CNN_STAGES:
        raise ValueError(f"{backbone} has no imagenet weights; use weights='none' or pick "
                         "mobilenet_v3_small / efficientnet_b0 / inception_resnet_v2")
    image = keras.Input((image_size, image_size, 3), name="image")
    features = _features(backbone, image, weights=weights, dropout=dropout, bn_momentum=bn_momentum)
    outputs = [_head(features, name=n, units=u, hidden=head_hidden)
               for n, u in _head_units(race_classes).items()]
    model = keras.Model(image, outputs, name=f"facescope_{backbone}")
    if application_weights(backbone, weights):
        freeze_batch_norms(model)  # ImageNet's statistics stay (modelkit.pretrained.transfer)
    elif weights != "none":
        load_matching_weights(model, weights)
    return model


def build_single_task_model(
    head: Literal["gender", "race", "age"],
    *,
    backbone: str = TrainConfig.backbone,
    image_size: int,
    race_classes: list[str],
    dropout: float = TrainConfig.dropout,
) -> keras.Model:
    """The same backbone with one head only: the baseline the shared model is measured
    against (bench/bench_shared_vs_single.py)."""
    if head not in labels.HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {list(labels.HEADS)}")
    _check_args(backbone, image_size, race_classes, "none")
    image = keras.Input((image_size, image_size, 3), name="image")
    features = _features(backbone, image, weights="none", dropout=dropout, bn_momentum=BN_MOMENTUM)
    output = _head(features, name=head, units=_head_units(race_classes)[head])
    return keras.Model(image, [output], name=f"single_{head}_{backbone}")


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the backbone's last layer with a 4D output (the Grad-CAM layer).

    Looks through nested sub-models too, and returns the deepest match's name."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            try:
                return last_conv_layer_name(layer)
            except ValueError:
                continue
        shape = getattr(layer, "output", None)
        if shape is not None and len(layer.output.shape) == 4 and not isinstance(
                layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(f"model {model.name!r} has no layer with a 4D (image-like) output")


def compile_model(
    model: keras.Model,
    *,
    lr: float,
    loss_weights: dict[str, float] | None = None,
    decay_steps: int | None = None,
    ema: bool = False,
    frozen_steps: int = 0,
    backbone_lr_scale: float = 1.0,
    **losses,
) -> keras.Model:
    """Compile with Adam, the masked per-head losses, their weights and metrics, for
    the heads the model has (the shared model or a single-task one).

    ``decay_steps``: cosine-decay the learning rate to 5% over that many steps (the
    whole run), which converges further in a short CPU budget than a constant rate.
    ``ema``: Adam keeps an exponential moving average of the weights and ``fit`` ends
    by writing it into the model: a steadier end point than wherever the last step
    landed (see :func:`ema_momentum`). ``frozen_steps``, ``backbone_lr_scale``: the
    transfer recipe (:class:`~modelkit.pretrained.transfer.TransferAdam`; the backbone
    learns at 0 for that many steps, then at the scaled rate). ``losses``:
    ``head_losses``' keywords."""
    heads = list(model.output_names)
    weights = {h: 1.0 for h in heads} | {h: float(w) for h, w in (loss_weights or {}).items()
                                         if h in heads}
    unknown = set(loss_weights or {}) - set(labels.HEADS)
    if unknown:
        raise ValueError(f"loss weights for unknown head(s) {sorted(unknown)}; "
                         f"expected some of {list(labels.HEADS)}")
    head_loss, metrics = head_losses(**losses), head_metrics()
    schedule = (keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha=0.05)
                if decay_steps else lr)
    adam = dict(use_ema=ema, ema_momentum=ema_momentum(decay_steps))
    optimizer = keras.optimizers.Adam(schedule, **adam) if not frozen_steps and \
        backbone_lr_scale == 1 else TransferAdam(
            schedule, backbone_variables=backbone_variable_paths(model, heads),
            frozen_steps=frozen_steps, backbone_lr_scale=backbone_lr_scale, **adam)
    model.compile(optimizer=optimizer,
                  loss={h: head_loss[h] for h in heads},
                  loss_weights={h: weights[h] for h in heads},
                  metrics={h: metrics[h] for h in heads})
    return model


def run_model(config: TrainConfig, *, race_classes: list[str], steps_per_epoch: int,
              lr_scale: float = 1.0) -> keras.Model:
    """The model a run's ``config`` describes, built and compiled: what both trainers
    train (call it under the strategy's scope). The learning rate decays over the whole
    run; ``lr_scale`` multiplies it (the multi-worker trainer's replicas)."""
    run_steps = steps_per_epoch * config.epochs
    model = build_model(backbone=config.backbone, image_size=config.image_size,
                        race_classes=race_classes, weights=config.weights,
                        dropout=config.dropout, head_hidden=config.head_hidden,
                        bn_momentum=batch_norm_momentum(run_steps))
    return compile_model(model, lr=config.lr * lr_scale, loss_weights=config.loss_weights,
                         decay_steps=run_steps, ema=config.ema,
                         frozen_steps=config.freeze_epochs * steps_per_epoch,
                         backbone_lr_scale=config.backbone_lr_scale, **loss_settings(config))


def batch_norm_momentum(run_steps: int | None) -> float:
    """Batch norm's moving statistics' momentum: Keras' 0.99 (about the last 100 steps)
    for a run of 3,000 steps or more, shorter for a shorter run, down to 0.9 (10 steps).

    Why: in a short run the weights move fast, and 0.99's statistics lag them by about
    100 steps, so the model evaluates (inference mode) with the statistics of an earlier
    model. A 6-epoch run on 2,000 synthetic faces (300 steps) trained to an age MAE of
    11 years in training mode but 23 on validation, worse than always answering the
    median age (14.6); with 0.9 it got 11.2 on validation (docs/BENCHMARKS.md §16)."""
    longest = 1.0 / (1.0 - BN_MOMENTUM)
    horizon = longest if not run_steps else min(longest, max(10.0, run_steps / 30))
    return 1.0 - 1.0 / horizon


def ema_momentum(run_steps: int | None) -> float:
    """The weight average's momentum: it spans about the last 100 steps (0.99), or the
    last tenth of a run shorter than 1,000 steps, so a short run (the demo, a test) keeps
    an average of its trained weights rather than of its first steps'."""
    horizon = 100.0 if not run_steps else min(100.0, max(1.0, run_steps / 10))
    return 1.0 - 1.0 / horizon


def model_targets(targets: dict) -> dict:
    """The pipeline's targets (gender, race, age, age_group) as the heads' targets:
    the age head gets (years, group) so it can fall back to the group."""
    age = tf.stack([tf.cast(targets["age"], "float32"),
                    tf.cast(targets["age_group"], "float32")], axis=-1)
    return {"gender": targets["gender"], "race": targets["race"], "age": age}


def parameter_count(model: keras.Model) -> int:
    return int(model.count_params())
