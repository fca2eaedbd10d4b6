"""Register, list and show outside models under ``<runs root>/models/``.

Adding a model copies its file into a new folder beside a card, loads it and runs a
probe batch through it: the folder appears (one rename of a finished temporary
folder) only if every head the card names comes back with the right shape and
probabilities that sum to 1. Otherwise nothing is registered and the error says why.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelkit import paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor
from modelkit.outside.answers import check_answers, read_answers
from modelkit.outside.card import CARD_FILE, ModelCard, read_card, write_card
from modelkit.outside.readout import read_heads
from modelkit.outside.runners import load_runner

MODELS_DIR = "models"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PROBE_N = 4


@dataclass(frozen=True)
class Registered:
    folder: Path
    card: ModelCard
    probe: dict[str, list]  # head -> the first probe face's reading, for the user to see


def models_root(runs_root: str | os.PathLike | None = None) -> Path:
    return paths.runs_root(runs_root) / MODELS_DIR


def probe_faces(n: int = PROBE_N, size: int = 96) -> np.ndarray:
    """A fixed batch of uint8 RGB images: what a probe needs is shapes, not faces."""
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def probe(card: ModelCard, folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Run the probe batch through the card's model and read its heads (raises
    ``ValueError`` naming what does not match the card). A predictions file has no
    model to run: every row of it is read instead."""
    if card.format == "predictions":
        return check_answers(card, read_answers(Path(folder) / card.artifact))
    faces = probe_faces()
    return read_heads(card, load_runner(card, folder)(faces), len(faces))


def add_model(card: ModelCard, artifact: str | os.PathLike | None, *,
              runs_root: str | os.PathLike | None = None,
              actor: Actor | None = None) -> Registered:
    """Register ``card`` with its model file (``artifact``: a file or a SavedModel
    folder; ``None`` for an adapter, whose code is its package's).

    ``actor`` (default the OS user) needs the ``trainer`` role; the audit log gets the
    outcome.

    Raises:
        modelkit.access.AccessDenied: the actor may not add models.
    """
    actor = actor or local_actor()
    with audited(actor, "model.add", runs_root=runs_root, target=card.name):
        return _add(card, artifact, runs_root=runs_root)


def _add(card: ModelCard, artifact, *, runs_root) -> Registered:
    card.check()
    if not NAME_PATTERN.match(card.name):
        raise ValueError(f"model name {card.name!r}: use letters, digits, '_', '.', '-' "
                         "(at most 64, starting with a letter or digit)")
    root = models_root(runs_root)
    final = root / card.name
    if final.exists():
        raise ValueError(f"a model named {card.name!r} is already registered at {final}")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{card.name}.", dir=root))
    try:
        if artifact is not None:
            source = Path(artifact).expanduser()
            if not source.exists():
                raise FileNotFoundError(f"{source}: no such model file")
            card = card.with_changes(artifact=source.name)
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, staging / source.name)
        reading = probe(card, staging)
        write_card(staging, card)
        staging.chmod(0o755)  # mkdtemp's folder is private; a model folder is like a run's
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Registered(folder=final, card=card,
                      probe={h: np.atleast_1d(v[0]).round(4).tolist() for h, v in reading.items()})


def list_models(runs_root: str | os.PathLike | None = None) -> list[ModelCard]:
    root = models_root(runs_root)
    if not root.is_dir():
        return []
    return [read_card(p) for p in sorted(root.iterdir())
            if not p.name.startswith(".") and (p / CARD_FILE).is_file()]


def show_model(name: str, runs_root: str | os.PathLike | None = None) -> tuple[Path, ModelCard]:
    folder = models_root(runs_root) / name
    if not (folder / CARD_FILE).is_file():
        known = ", ".join(c.name for c in list_models(runs_root)) or "none"
        raise ValueError(f"no outside model named {name!r} (registered: {known})")
    return folder, read_card(folder)
