"""Cards for FaceScope's own models, so a run or its export can be audited as any
outside model: ``models add NAME --keras runs/abc/model.keras`` (or ``--savedmodel``
/ ``--tflite`` on ``python -m modelkit export``'s folder) needs no card flags.

A run's ``model.keras`` is described from the ``config.json`` beside it (its image
size, race classes and the heads it trained; the age head's 101 bins are the ages
0..100, read as their expected value, as the run's own predictions are). An export
is described from its ``signature.json``: ``gender_probs``, ``race_probs`` and
``age_years``, uint8 input named ``images``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from modelkit import labels
from modelkit.export import SIGNATURE_FILE
from modelkit.outside.card import HeadOutput, ModelCard
from modelkit.runfolder import CONFIG_FILE, MODEL_FILE


def own_card(name: str, fmt: str, artifact: str | os.PathLike) -> ModelCard | None:
    """The card of a FaceScope model file or export, or None when ``artifact`` is not
    one (no ``config.json`` / ``signature.json`` beside it)."""
    path = Path(artifact).expanduser()
    if fmt == "keras" and path.name == MODEL_FILE and (path.parent / CONFIG_FILE).is_file():
        return _run_card(name, path, json.loads((path.parent / CONFIG_FILE).read_text()))
    folder = path if path.is_dir() else path.parent
    if fmt in ("savedmodel", "tflite") and (folder / SIGNATURE_FILE).is_file():
        return _export_card(name, fmt, path, json.loads((folder / SIGNATURE_FILE).read_text()))
    return None


def _run_card(name: str, path: Path, config: dict) -> ModelCard:
    size = int(config["image_size"])
    trained = set(config.get("heads") or labels.HEADS)
    races = tuple(config.get("race_classes") or labels.UTKFACE_RACES)
    heads = (HeadOutput("gender", "gender", classes=tuple(labels.GENDERS)),
             HeadOutput("race", "race", classes=races),
             HeadOutput("age", "age", age="bins",
                        bin_ages=tuple(float(a) for a in range(labels.MAX_AGE + 1))))
    return ModelCard(name=name, format="keras", artifact=path.name, input_size=(size, size),
                     crop="aligned" if config.get("align") else "dataset",
                     heads=tuple(h for h in heads if h.head in trained),
                     source=f"FaceScope run {path.parent.name}").check()


def _export_card(name: str, fmt: str, path: Path, signature: dict) -> ModelCard:
    size = int(signature["image_size"])
    outputs = signature["outputs"]
    trained = set(signature.get("trained_heads") or labels.HEADS)
    heads = (HeadOutput("gender", "gender_probs", classes=tuple(outputs["gender_probs"]["classes"])),
             HeadOutput("race", "race_probs", classes=tuple(outputs["race_probs"]["classes"])),
             HeadOutput("age", "age_years", age="number"))
    run = signature.get("run") or {}
    return ModelCard(name=name, format=fmt, artifact=path.name, input_size=(size, size),
                     input_name=signature["input"]["name"] if fmt == "savedmodel" else None,
                     heads=tuple(h for h in heads if h.head in trained),
                     source=f"FaceScope export of run {run.get('id')}").check()
