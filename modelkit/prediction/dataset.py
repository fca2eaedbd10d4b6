"""Run a trained run's model over another dataset: :func:`predict_dataset`.

The images are read by the readers (``modelkit.data.load_dataset``: bad images skipped
with their reasons, as for training) and fed to the model through the training
pipeline itself (``modelkit.training.predict.predict_frame`` on
``modelkit.pipeline.make_dataset``: the same decoder, resize and batching as the run's
own predictions), a chunk of batches at a time so progress is reported and a cancel
is honoured between chunks. The rows are the run's predictions contract; race labels
are compared through :mod:`modelkit.prediction.mapping`. The result is written to
``<run>/eval/<NAME>/`` (``predictions.parquet`` + ``eval.json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modelkit.data import load_dataset
from modelkit.data.manifest import Dataset, Skipped
from modelkit.data.scan import Progress
from modelkit.prediction.evalsets import EVAL_FILE, EVAL_SPLIT, eval_dir
from modelkit.prediction.mapping import apply_race_mapping, resolve_race_mapping
from modelkit.prediction.predictors import check_run_model
from modelkit.prediction.request import PredictRequest
from modelkit.runfolder import PREDICTIONS_FILE, write_json, write_parquet

# Batches per model call between two progress reports (and cancel checks).
CHUNK_BATCHES = 4


class PredictionCancelled(Exception):
    """Raised between chunks when ``should_stop`` says so (a job's CANCEL file)."""


@dataclass
class PredictionResult:
    """Where the evaluation set was written, its ``eval.json`` and its rows."""

    path: Path
    info: dict
    predictions: pd.DataFrame


def predict_dataset(request: PredictRequest, *, progress: Progress | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    dataset: Dataset | None = None) -> PredictionResult:
    """Predict with ``request.run_dir``'s model (a run's, or an outside model's) on
    every usable image of the dataset.

    Args:
        request: the run, the dataset and the evaluation set's name.
        progress: called with (images done, images in all) after each chunk.
        should_stop: checked before each chunk; True raises :class:`PredictionCancelled`
            and nothing is written.
        dataset: an already loaded dataset (tests), instead of ``request``'s source.

    Returns:
        The written evaluation set (an older one of the same name is replaced).

    Raises:
        FileNotFoundError: no run folder or model, a missing dataset root or label file.
        ValueError: bad labels, a race class that cannot be mapped, no usable image.
    """
    from modelkit.prediction.predictors import load_predictor

    started = time.time()
    run_dir = Path(request.run_dir)
    check_run_model(run_dir)
    out = eval_dir(run_dir, request.set_name)
    data = dataset or load_dataset(request.source, root=request.root, labels=request.labels,
                                   limit=request.limit, seed=request.seed)
    predictor = load_predictor(run_dir)
    # A model that expects FaceScope's aligned crops (its card says so) gets them.
    align = request.align or (predictor.kind == "outside" and predictor.crop == "aligned")
    if align and predictor.answers_only:
        raise ValueError(f"{run_dir.name} is a predictions file: it answers for the set's own "
                         "images, not for aligned crops of them; predict without --align")
    if align:  # each image becomes its main face's aligned crop (no face: skipped)
        from modelkit.data.faces.crops import align_dataset

        data = align_dataset(data)
    whole = request.limit is None and dataset is None  # else a file may answer more faces
    manifest, unanswered = predictor.select(data.manifest,
                                            [s.path for s in data.skipped] if whole else None)
    skipped = list(data.skipped) + [Skipped(path, reason) for path, reason in unanswered]
    mapping = resolve_race_mapping(
        source_classes=data.race_classes, model_classes=predictor.race_classes,
        labelled=bool(manifest["race"].notna().any()) and "race" in predictor.heads,
        source=f"{data.source} set {data.root}")
    if not len(manifest):
        first = f"; first: {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise ValueError(f"no usable image in the {data.source} set at {data.root} "
                         f"({len(skipped)} skipped{first}); nothing to predict")
    chunk = request.batch_size * CHUNK_BATCHES
    frames = []
    for start in range(0, len(manifest), chunk):
        if should_stop is not None and should_stop():
            raise PredictionCancelled(f"cancelled after {start} of {len(manifest)} images")
        frames.append(predictor.predict_manifest(manifest.iloc[start:start + chunk],
                                                 request.batch_size))
        if progress is not None:
            progress(min(start + chunk, len(manifest)), len(manifest))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(frame.columns.get_loc("split") + 1, "source_split", frame["split"])
    frame["split"] = EVAL_SPLIT
    frame = apply_race_mapping(frame, mapping)
    seconds = time.time() - started
    info = {
        "name": out.name, "run_id": run_dir.resolve().name, "run_dir": str(run_dir.resolve()),
        "source": data.source, "root": data.root, "labels": request.labels,
        "limit": request.limit, "seed": request.seed, "align": align,
        "model_kind": predictor.kind,
        "n_images": len(frame), "n_skipped": len(skipped),
        "skipped": [s.to_dict() for s in skipped],
        "race_mapping": mapping.to_json_dict(),
        "age_true_is_midpoint": bool(frame["age_true_is_midpoint"].any()),
        "trained_heads": sorted(predictor.heads), "image_size": predictor.image_size[0],
        "batch_size": request.batch_size, "model_mtime": predictor.model_file.stat().st_mtime,
        "started": started, "seconds": seconds, "images_per_s": len(frame) / max(seconds, 1e-9),
    }
    write_eval_set(out, frame, info)
    return PredictionResult(out, info, frame)


def write_eval_set(path: Path, frame: pd.DataFrame, info: dict) -> None:
    """``predictions.parquet`` then ``eval.json``, each written whole and renamed into
    place, so a reader sees the old set or the new one, never half of one."""
    path.mkdir(parents=True, exist_ok=True)
    write_parquet(path / PREDICTIONS_FILE, frame)
    write_json(path / EVAL_FILE, info)
