"""The model a prediction runs: a FaceScope run's, or an outside model, behind one face.

Predicting on a dataset, on a photo's faces or as a background job needs the same few
things of a model, whatever made it: its race classes, the heads it has, the image
size and crop it expects, and two calls, one over a manifest's files (the predictions
table of docs/CONTRACTS.md) and one over decoded faces (labelled rows). A run's model
is fed by the training pipeline itself (``modelkit.training.predict.predict_frame``);
an outside model (a folder with a ``card.json``, :mod:`modelkit.outside`) gets its
faces decoded by the same decoder at its card's input size, and its outputs read as
its card says (``modelkit.outside.readout``).

Example::

    predictor = load_predictor("runs/models/dlib-gender")
    predictor.heads                                  # {"gender"}
    table = predictor.predict_manifest(manifest, batch_size=64)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.runfolder import MODEL_FILE

ManifestPredict = Callable[[pd.DataFrame, int], pd.DataFrame]
FacesPredict = Callable[[list[np.ndarray]], pd.DataFrame]
# (the set's rows, the set's other paths or None for a subset) -> the rows the model
# can answer, and (path, reason) for the others.
Select = Callable[[pd.DataFrame, "list[str] | None"], tuple[pd.DataFrame, list[tuple[str, str]]]]


def _all_rows(manifest: pd.DataFrame, others: list[str] | None) -> tuple[pd.DataFrame, list]:
    return manifest, []


@dataclass(frozen=True)
class Predictor:
    """A loaded model, ready to predict.

    Attributes:
        kind: ``run`` (trained by FaceScope) or ``outside`` (registered with a card).
        race_classes: the race head's classes in output order (a model without a race
            head: FaceScope's UTKFace classes, predicted as null).
        heads: the heads it predicts; the others are null in every row.
        image_size: (height, width) of its input.
        crop: ``dataset`` or ``aligned`` (``modelkit.outside.card.CROPS``).
        model_file: the file whose change makes older predictions stale.
        predict_manifest: (manifest rows, batch size) -> the predictions table.
        predict_faces: decoded uint8 RGB faces -> one labelled row per face.
        select: the set's rows it can answer and why not the others (a predictions
            file answers only the faces it lists).
        answers_only: it answers for given image files only (a predictions file): no
            new face, no aligned crop.
    """

    kind: str
    race_classes: list[str]
    heads: set[str]
    image_size: tuple[int, int]
    crop: str
    model_file: Path
    predict_manifest: ManifestPredict
    predict_faces: FacesPredict
    select: Select = _all_rows
    answers_only: bool = False


def check_run_model(run_dir: str | os.PathLike) -> Path:
    """The model file of a run (``model.keras``) or of an outside model (its card).

    Raises:
        FileNotFoundError: no such folder, or a run without a final model (why, from
            its ``status.json``).
    """
    from modelkit.models.run_model import check_trained_model
    from modelkit.outside.card import CARD_FILE, is_outside_model

    if is_outside_model(run_dir):
        return Path(run_dir) / CARD_FILE
    return check_trained_model(run_dir)


def check_predicts_faces(run_dir: str | os.PathLike) -> Path:
    """:func:`check_run_model`, and a predictions file refused: it cannot predict a
    face it does not list (a photo, an upload), said before any face is looked for.

    Raises:
        ValueError: a predictions-file model.
    """
    from modelkit.outside.card import is_outside_model, read_card

    model_file = check_run_model(run_dir)
    if is_outside_model(run_dir) and read_card(run_dir).format == "predictions":
        raise ValueError(f"{Path(run_dir).name} is a predictions file: it answers only the "
                         "images it lists, it cannot predict a new face")
    return model_file


def load_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The model of a run folder or an outside model's folder, loaded once.

    Raises:
        FileNotFoundError: no folder, or no model in it (why, for a run).
        ValueError: a card or model file FaceScope cannot use, naming it.
    """
    model_file = check_run_model(run_dir)
    if model_file.name != MODEL_FILE:
        return _outside_predictor(Path(run_dir), model_file)
    return _run_predictor(Path(run_dir), model_file)


def _run_predictor(run_dir: Path, model_file: Path) -> Predictor:
    from modelkit.data import decode
    from modelkit.models.rows import label_predictions
    from modelkit.models.run_model import (
        class_names,
        image_size,
        load_run_config,
        load_run_model,
        trained_heads,
    )
    from modelkit.training.predict import predict_frame

    config = load_run_config(run_dir)
    model = load_run_model(run_dir)
    size = image_size(model) or int(config["image_size"])
    races, heads = class_names(config, "race"), trained_heads(run_dir)

    def manifest(rows: pd.DataFrame, batch_size: int) -> pd.DataFrame:
        return predict_frame(model, rows, image_size=size, batch_size=batch_size,
                             race_classes=races, trained_heads=heads)

    def faces(crops: list[np.ndarray]) -> pd.DataFrame:
        outputs = model.predict(decode.model_inputs(list(crops), image_size=size), verbose=0)
        return label_predictions(*outputs, race_classes=races, heads=heads)

    return Predictor("run", races, heads, (size, size), "aligned" if config.get("align") else
                     "dataset", model_file, manifest, faces)


def _outside_predictor(folder: Path, card_file: Path) -> Predictor:
    from modelkit.models.rows import label_readings, with_truth
    from modelkit.outside.card import read_card
    from modelkit.outside.readout import read_heads
    from modelkit.outside.runners import load_runner

    card = read_card(folder)
    race = next((h for h in card.heads if h.head == "race"), None)
    races = list(race.classes) if race else list(labels.UTKFACE_RACES)
    heads = {h.head for h in card.heads}
    if card.format == "predictions":
        return _answers_predictor(card, folder, races, heads)
    runner = load_runner(card, folder)

    def label(faces: np.ndarray) -> pd.DataFrame:
        readings = read_heads(card, runner(faces), len(faces))
        return label_readings(*(readings.get(k) for k in ("gender", "race", "age", "age_group")),
                              race_classes=races, heads=heads, n=len(faces))

    def manifest(rows: pd.DataFrame, batch_size: int) -> pd.DataFrame:
        batches = [label(faces) for faces in _decoded_batches(rows["path"], card.input_size,
                                                               batch_size)]
        predicted = (pd.concat(batches, ignore_index=True) if batches
                     else label(np.zeros((0, *card.input_size, 3), dtype=np.uint8)))
        return with_truth(rows, predicted)

    def faces(crops: list[np.ndarray]) -> pd.DataFrame:
        return label(list(crops))

    model_file = folder / card.artifact if card.format != "adapter" else card_file
    return Predictor("outside", races, heads, tuple(card.input_size), card.crop,
                     model_file if model_file.exists() else card_file, manifest, faces)


def _answers_predictor(card, folder: Path, races: list[str], heads: set[str]) -> Predictor:
    """A predictions file: the rows it holds for the set's images, read as its card says."""
    from modelkit.models.rows import label_readings, with_truth
    from modelkit.outside.answers import answer_outputs, match_answers, read_answers
    from modelkit.outside.readout import read_heads

    file = folder / card.artifact
    answers = read_answers(file)

    def select(manifest: pd.DataFrame, others: list[str] | None):
        rows, _ = match_answers(answers, manifest["path"])
        _, extra = match_answers(answers, pd.concat([manifest["path"], pd.Series(others or [])]))
        if others is not None and extra:
            raise ValueError(f"{len(extra)} path(s) of the predictions file {file.name} are not "
                             f"images of this set (e.g. {', '.join(extra[:3])}): is the file "
                             "for another dataset?")
        missing = [(str(p), f"{card.name}'s predictions file has no answer for it")
                   for p in manifest["path"][rows < 0]]
        return manifest[rows >= 0].assign(_answer=rows[rows >= 0]), missing

    def manifest(rows: pd.DataFrame, batch_size: int) -> pd.DataFrame:
        picked = answers.iloc[rows["_answer"].to_numpy()].reset_index(drop=True)
        readings = read_heads(card, answer_outputs(card, picked), len(picked))
        predicted = label_readings(*(readings.get(k) for k in ("gender", "race", "age", "age_group")),
                                   race_classes=races, heads=heads, n=len(picked))
        return with_truth(rows.drop(columns="_answer"), predicted)

    def faces(crops: list[np.ndarray]) -> pd.DataFrame:
        raise ValueError(f"{card.name} is a predictions file: it answers only the images it "
                         "lists, it cannot predict a new face")

    return Predictor("outside", races, heads, tuple(card.input_size), card.crop, file,
                     manifest, faces, select, answers_only=True)


def _decoded_batches(paths: pd.Series, size: tuple[int, int], batch_size: int):
    """uint8 (B, height, width, 3) batches of the files, decoded and resized as the
    training pipeline does (``modelkit.data.decode``), read in parallel by tf.data."""
    import tensorflow as tf

    from modelkit.data import decode, tuning

    ds = tf.data.Dataset.from_tensor_slices(paths.astype(str).to_numpy())
    ds = ds.map(lambda p: decode.decode_resized_tf(tf.io.read_file(p), image_size=tuple(size)),
                num_parallel_calls=tuning.PARALLEL_CALLS)
    for batch in tuning.untuned(ds.batch(batch_size).prefetch(tuning.PREFETCH_BATCHES)):
        yield batch.numpy()
