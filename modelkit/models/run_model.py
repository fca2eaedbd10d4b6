"""The model being explained: a run's saved model and config, its classes, its input.

What a map explains is only as good as the pixels it was computed on, so the images
given to saliency become the model's input here, through the one decoder
(``modelkit.data.decode``): the tensor a map explains for a file is the tensor the
training pipeline feeds the model for that file.

Example::

    model = load_run_model("runs/abc")
    config = load_run_config("runs/abc")
    index = class_index_for(config, "race", "Asian")
    faces = load_images(["face.jpg"], size=image_size(model))   # == the pipeline's tensor
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelkit import labels
from modelkit.runfolder import CONFIG_FILE, MODEL_FILE, STATUS_FILE, read_config

# ---------------------------------------------------------------- runs

def load_run_model(run_dir: str | os.PathLike):
    """Load ``run_dir/model.keras`` (the final model of a training run), not compiled:
    explaining needs no loss or optimizer, so the project's custom losses are not needed.

    Raises:
        FileNotFoundError: the folder has no model.keras (not a run, or unfinished).
    """
    import keras

    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no model at {path}: expected a finished run folder holding {MODEL_FILE} "
            "(train one with `python -m modelkit train`, or wait for the run to finish)")
    return keras.saving.load_model(path, compile=False)


def load_run_config(run_dir: str | os.PathLike) -> dict:
    """The run's ``config.json`` (class names, image size...); ``{}`` when it has none."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def check_trained_model(run_dir: str | os.PathLike) -> Path:
    """The run's ``model.keras``.

    Raises:
        FileNotFoundError: no such folder, or a run without a final model (still
            training, failed or cancelled), saying which from its ``status.json``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder {run} does not exist; pass --run-dir a run folder "
                                "(`python -m modelkit runs list` shows them) or an outside "
                                "model's (`python -m modelkit models list`)")
    model = run / MODEL_FILE
    if model.is_file():
        return model
    try:
        status = json.loads((run / STATUS_FILE).read_text())
    except (OSError, ValueError):
        status = {}
    state = status.get("state") if isinstance(status, dict) else None
    why = {"running": "it is still training; wait for it to finish",
           "queued": "it has not started training yet",
           "cancelled": "it was cancelled before it finished; resume it to get a model",
           "failed": f"its training failed ({status.get('error') or 'see train.log'})",
           }.get(state, "it has not finished training")
    raise FileNotFoundError(f"run {run.name} has no {MODEL_FILE} to predict with: {why} "
                            f"(looked in {run})")


def trained_heads(run_dir: str | os.PathLike) -> set[str]:
    """The heads the run learnt, as its ``config.json`` records them (``heads``); a head
    its training set had no label for is untrained noise and is predicted as null.

    Raises:
        ValueError: the run's config.json does not say which heads it trained.
    """
    heads = read_config(run_dir).get("heads")
    if not isinstance(heads, list) or not set(heads) <= set(labels.HEADS):
        raise ValueError(f"{Path(run_dir) / CONFIG_FILE} does not record the heads the run "
                         f"trained ('heads': a list of {', '.join(labels.HEADS)}); train it again")
    return set(heads)


# ---------------------------------------------------------------- classes

def check_head(head: str) -> None:
    """Raises ValueError for a head the model does not have, listing the heads."""
    if head not in labels.HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(labels.HEADS)}")


def class_names(config: dict, head: str) -> list[str]:
    """The classes a head can be explained for: genders, the run's races, age groups."""
    check_head(head)
    if head == "gender":
        return list(labels.GENDERS)
    if head == "age":
        return list(labels.AGE_GROUPS)
    races = config.get("race_classes")
    return list(races) if races else list(labels.UTKFACE_RACES)


def class_index_for(config: dict, head: str, name: str | None) -> int | None:
    """The index of class ``name`` in ``head``'s classes (None stays None).

    Raises:
        ValueError: an unknown name, listing the classes that exist.
    """
    if name is None:
        return None
    names = class_names(config, head)
    if name not in names:
        raise ValueError(f"unknown class {name!r} for the {head} head; "
                         f"classes: {', '.join(names)}")
    return names.index(name)


# ---------------------------------------------------------------- inputs

def image_size(model) -> int | None:
    """The square input size the model expects, or None when it accepts any."""
    return model.inputs[0].shape[1]


def as_batch(images) -> np.ndarray:
    """(N, H, W, 3) or (H, W, 3) RGB 0..255 -> an (N, H, W, 3) float32 batch.

    Raises:
        ValueError: any other shape, saying which came.
    """
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected images shaped (N, H, W, 3) or (H, W, 3) with RGB values "
                         f"0..255, got shape {np.asarray(images).shape}")
    return batch


def model_inputs(model, images) -> np.ndarray:
    """The tensor the model is fed for ``images``: a batch already at the model's size
    is taken as it is (e.g. from :func:`load_images`); any other size is resized as
    the training pipeline resizes (``modelkit.data.decode.model_inputs``)."""
    batch = as_batch(images)
    size = image_size(model)
    if size is None or batch.shape[1:3] == (size, size):
        return batch
    from modelkit.data import decode

    return decode.model_inputs(batch, image_size=size)


def load_images(paths: Sequence[str | os.PathLike], *, size: int) -> np.ndarray:
    """Image files -> (N, size, size, 3) float32 0..255, exactly the tensor the training
    pipeline feeds the model for them (``modelkit.data.decode.load_model_inputs``)."""
    from modelkit.data import decode

    return decode.load_model_inputs(paths, image_size=size)
