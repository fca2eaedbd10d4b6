"""A trained run as a model to ship: a TensorFlow SavedModel with a serving signature of
its own (and, optionally, a TFLite file).

Keras's default export takes float32 images at the training size and names its outputs
``output_0..2``. A user serving the model has decoded face images of any size and wants
named answers, so the signature here (``keras.export.ExportArchive`` + a
``tf.function``) takes a batch of **uint8 RGB images of any height and width** (one size
per batch), resizes them inside with the pipeline's own resize
(``modelkit.data.decode.resize_tf``: antialiased, rounded to uint8, the identity at the
model's size) and returns:

- ``gender_probs`` (N, 2) and ``race_probs`` (N, k): softmax, classes in
  ``signature.json``'s order;
- ``age_years`` (N,): the expected age of the age head (as the run's predictions);
- ``age_group`` (N,) int32: index into the age groups of the group holding that age;
- ``age_group_probs`` (N, 9): the age head's mass per age group.

``signature.json`` beside it lists the class names in output order, the input size and
what the run was, so the export is served with TensorFlow alone (tests load it in a
process that never imports modelkit).

Example::

    export_run("runs/abc", out="export/abc")
    # elsewhere, TensorFlow only:
    serve = tf.saved_model.load("export/abc").signatures["serving_default"]
    serve(images=tf.constant(faces_uint8))["gender_probs"]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modelkit import labels

EXPORT_FORMATS = ("savedmodel", "tflite")
SIGNATURE_FILE = "signature.json"
TFLITE_FILE = "model.tflite"
ENDPOINT = "serving_default"
INPUT_NAME = "images"
OUTPUTS = ("gender_probs", "race_probs", "age_years", "age_group", "age_group_probs")


@dataclass
class ExportResult:
    """What was written: the folder, the signature description, its size on disk."""

    path: Path
    format: str
    signature: dict
    size_bytes: int


def serving_function(model, *, image_size: int, resize: bool = True):
    """The ``tf.function`` of the signature: uint8 (N, H, W, 3) -> the named outputs.

    With ``resize=False`` (TFLite, which has no antialiased resize op) the input is
    fixed at the model's size, (N, S, S, 3), and the caller resizes."""
    import tensorflow as tf

    from modelkit import objectives
    from modelkit.data.decode import resize_tf

    to_groups = tf.constant(objectives.age_group_matrix())
    upper_edges = tf.constant(labels.AGE_GROUP_EDGES[1:], dtype=tf.float32)

    side = None if resize else image_size

    @tf.function(input_signature=[tf.TensorSpec([None, side, side, 3], tf.uint8, name=INPUT_NAME)])
    def serve(images):
        pixels = tf.cast(resize_tf(images, size=image_size) if resize else images, tf.float32)
        outputs = model(pixels, training=False)
        if isinstance(outputs, dict):
            outputs = [outputs[name] for name in labels.HEADS]
        gender, race, age = (tf.cast(o, tf.float32) for o in outputs)
        years = objectives.expected_age(age)
        # The group holding the expected age: how many group edges it has passed.
        group = tf.reduce_sum(tf.cast(years[:, None] >= upper_edges[None, :], tf.int32), axis=1)
        return {"gender_probs": gender, "race_probs": race, "age_years": years,
                "age_group": group, "age_group_probs": tf.matmul(age, to_groups)}
    return serve


def describe_signature(*, config: dict, image_size: int, run_dir: Path, fmt: str,
                       trained: set[str]) -> dict:
    """``signature.json``: input, outputs with class names in order, the run."""
    from modelkit.models.run_model import class_names

    groups = list(labels.AGE_GROUPS)
    pixels = ("decoded RGB 0..255, any height and width (one size per batch); resized inside "
              f"to {image_size}x{image_size} with tf.image.resize(antialias=True), rounded to uint8")
    if fmt == "tflite":  # TFLite has no antialiased resize: the caller does it
        pixels = (f"decoded RGB 0..255 already at {image_size}x{image_size}: resize with "
                  "tf.image.resize(antialias=True), round and clip to uint8 first")
    side = None if fmt == "savedmodel" else image_size
    return {
        "format": fmt, "signature": ENDPOINT, "image_size": image_size,
        "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": [None, side, side, 3],
                  "pixels": pixels},
        "outputs": {
            "gender_probs": {"dtype": "float32", "shape": [None, 2], "classes": list(labels.GENDERS)},
            "race_probs": {"dtype": "float32", "shape": [None, len(class_names(config, "race"))],
                           "classes": class_names(config, "race")},
            "age_years": {"dtype": "float32", "shape": [None],
                          "meaning": "expected age in years (the age head's mean over 0..100)"},
            "age_group": {"dtype": "int32", "shape": [None], "classes": groups,
                          "meaning": "index into classes: the age group holding age_years"},
            "age_group_probs": {"dtype": "float32", "shape": [None, len(groups)], "classes": groups},
        },
        "trained_heads": sorted(trained),
        "run": {"id": run_dir.resolve().name, "source": config.get("source"),
                "backbone": config.get("backbone"), "image_size": config.get("image_size")},
        "exported": time.time(),
    }


def export_run(run_dir: str | os.PathLike, *, out: str | os.PathLike,
               format: str = "savedmodel") -> ExportResult:
    """Write the run's model as a SavedModel (or a TFLite file) with ``signature.json``.

    Args:
        run_dir: a finished run folder (holds ``model.keras``).
        out: a new or empty folder.
        format: ``savedmodel`` or ``tflite``.

    Raises:
        ValueError: an unknown format, or ``out`` is a folder that is not empty.
        FileNotFoundError: the run has no model (still training, failed...).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"--out {target} exists and is not an empty folder; give a new folder "
                         "(an export never overwrites files)")
    import keras

    from modelkit.models.run_model import (
        check_trained_model,
        image_size,
        load_run_config,
        load_run_model,
        trained_heads,
    )

    run = Path(run_dir)
    check_trained_model(run)

    model = load_run_model(run)
    config = load_run_config(run)
    size = image_size(model) or int(config["image_size"])
    signature = describe_signature(config=config, image_size=size, run_dir=run, fmt=format,
                                   trained=trained_heads(run))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(ENDPOINT, serving_function(model, image_size=size,
                                                    resize=format == "savedmodel"))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed into place: a failed export leaves nothing.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        staging = Path(tmp) / "export"
        if format == "savedmodel":
            archive.write_out(str(staging), verbose=False)
        else:
            archive.write_out(str(Path(tmp) / "savedmodel"), verbose=False)
            staging.mkdir()
            (staging / TFLITE_FILE).write_bytes(_to_tflite(str(Path(tmp) / "savedmodel")))
        (staging / SIGNATURE_FILE).write_text(json.dumps(signature, indent=1))
        os.replace(staging, target)
    size_bytes = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return ExportResult(target, format, signature, size_bytes)


def _to_tflite(saved_model_dir: str) -> bytes:
    """Convert the SavedModel's signature (built without the resize: the antialiased
    resize, ``ScaleAndTranslate``, is neither a TFLite builtin nor a Flex op) with
    TFLite's builtin ops only."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[ENDPOINT])
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and plain Exceptions
        raise ValueError(f"the model does not convert to TFLite ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); export "
                         "--format savedmodel instead") from exc

