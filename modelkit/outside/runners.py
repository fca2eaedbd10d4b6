"""Run an outside model on a batch of faces: uint8 RGB in, the model's outputs out.

:func:`load_runner` gives, for a card and its folder, one callable
``faces -> {output name: array}`` whatever the format. The faces (an (N, H, W, 3)
uint8 RGB batch, or a list of faces of any sizes) are first brought to the card's
input size with FaceScope's own resize (``modelkit.data.decode.resize_tf``, as the
training pipeline does; a batch already at that size is untouched). The card's
normalisation is then made here (:func:`model_input`: channel order,
``(pixel - mean) / std * scale``, layout), except for an adapter, which takes the
uint8 faces: its package does its own preparation.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelkit.outside.card import ModelCard

Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


def faces_at(faces, size: tuple[int, int]) -> np.ndarray:
    """(N, height, width, 3) uint8 RGB from a batch or a list of faces of any size."""
    from modelkit.data import decode

    if isinstance(faces, np.ndarray) and faces.ndim == 4:
        if faces.shape[1:3] == tuple(size) and faces.dtype == np.uint8:
            return faces
        return decode.resize_tf(faces, size=tuple(size)).numpy()
    batch = [np.asarray(f) for f in faces]
    if any(f.ndim != 3 or f.shape[-1] != 3 for f in batch):
        raise ValueError("expected faces as (H, W, 3) RGB pixels, got shapes "
                         f"{sorted({f.shape for f in batch})}")
    if not batch:
        return np.zeros((0, *size, 3), dtype=np.uint8)
    return np.stack([decode.resize_tf(f, size=tuple(size)).numpy() for f in batch])


def model_input(faces: np.ndarray, card: ModelCard) -> np.ndarray:
    """The float32 batch the card's model takes, from uint8 RGB faces at its input size."""
    x = faces.astype(np.float32)
    if card.channels == "BGR":
        x = x[..., ::-1]
    x = (x - np.float32(card.mean)) / np.float32(card.std) * np.float32(card.scale)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if card.layout == "NCHW" else x)


def load_runner(card: ModelCard, folder: str | os.PathLike) -> Runner:
    """The card's model as one callable; a file that is not such a model is a
    ``ValueError`` naming it and the format expected."""
    if card.format == "adapter":
        adapter = _adapter(card.artifact)
        return lambda faces: adapter(faces_at(faces, card.input_size))
    path = Path(folder) / card.artifact
    if not path.exists():
        raise FileNotFoundError(f"{path}: the {card.format} model the card names does not exist")
    load = {"onnx": _onnx, "keras": _keras, "savedmodel": _savedmodel, "tflite": _tflite}.get(card.format)
    if load is None:
        raise ValueError(f"a {card.format!r} model has no runner: its predictions are read from a file")
    try:
        model = load(path, card)
    except Exception as exc:  # each library has its own error for "not my format"
        raise ValueError(f"{path} is not a {card.format} model FaceScope can load: "
                         f"{type(exc).__name__}: {exc}") from exc
    return lambda faces: model(model_input(faces_at(faces, card.input_size), card))


def _onnx(path: Path, card: ModelCard) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    name = card.input_name or inputs[0]
    if name not in inputs:
        raise ValueError(f"the card's input {name!r} is not among the model's inputs {inputs}")
    shape = session.get_inputs()[inputs.index(name)].shape
    spatial = shape[2:4] if card.layout == "NCHW" else shape[1:3]
    if all(isinstance(d, int) for d in spatial) and tuple(spatial) != tuple(card.input_size):
        raise ValueError(f"the model's input {name!r} is {list(spatial)} px, the card says "
                         f"{list(card.input_size)} ({card.layout})")
    outputs = [o.name for o in session.get_outputs()]
    return lambda x: dict(zip(outputs, session.run(None, {name: x}), strict=True))


def _keras(path: Path, card: ModelCard):
    import keras

    model = keras.models.load_model(path, compile=False, safe_mode=True)
    names = list(model.output_names)
    return lambda x: _named(model.predict_on_batch(x), names)


def _savedmodel(path: Path, card: ModelCard):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    name = card.input_name or next(iter(specs))
    if name not in specs:
        raise ValueError(f"the card's input {name!r} is not among the signature's inputs {list(specs)}")
    dtype = specs[name].dtype  # FaceScope's own export takes uint8 faces

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        if dtype == tf.uint8:
            x = np.clip(np.round(x), 0, 255).astype(np.uint8)
        return {k: v.numpy() for k, v in serve(**{name: tf.constant(x, dtype=dtype)}).items()}
    return run


def _tflite(path: Path, card: ModelCard):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    (name,) = interpreter.get_signature_list()["serving_default"]["inputs"]
    dtype = runner.get_input_details()[name]["dtype"]  # FaceScope's own export takes uint8

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        if dtype == np.uint8:
            x = np.clip(np.round(x), 0, 255)
        return {k: np.asarray(v) for k, v in runner(**{name: x.astype(dtype)}).items()}
    return run


def _named(outputs, names: list[str]) -> dict[str, np.ndarray]:
    if isinstance(outputs, dict):
        return {k: np.asarray(v) for k, v in outputs.items()}
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return {name: np.asarray(v) for name, v in zip(names, outputs, strict=True)}


def _adapter(spec: str) -> Runner:
    """``module:callable``: called with the uint8 RGB faces, returns one array per output
    (a dict by output name, or a sequence in the card's heads order)."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ValueError(f"adapter {spec!r} is not MODULE:CALLABLE")
    try:
        function = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"adapter {spec!r} cannot be imported: {exc}") from exc

    def run(faces: np.ndarray) -> dict[str, np.ndarray]:
        try:
            outputs = function(faces)
        except Exception as exc:
            raise ValueError(f"adapter {spec!r} raised {type(exc).__name__}: {exc}") from exc
        if isinstance(outputs, dict):
            return {str(k): np.asarray(v) for k, v in outputs.items()}
        return {str(i): np.asarray(v) for i, v in enumerate(outputs)}
    return run
