"""A tiny run trained on real UTKFace faces and ranked, shared by the curation tests.

Training it takes a few seconds to a minute, so it is made once per pytest session
(under the session's base temp folder) and each test gets a copy in its own runs root:
tests that write decisions or rank again never see each other's files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from modelkit.config import TrainConfig
from tests.helpers.samples import UTKFACE

LIMIT = 400


def tiny_config(**overrides) -> TrainConfig:
    """400 real faces at 32 px, two quick epochs: a model whose embeddings mean something."""
    return TrainConfig(**{"source": "utkface", "root": str(UTKFACE), "limit": LIMIT,
                          "backbone": "small_cnn", "image_size": 32, "epochs": 2, "batch_size": 32, "augment": False,
                          "progress_every": 50} | overrides)


def trained_run(basetemp: Path, *, ranked: bool = True) -> Path:
    """The session's trained (and ``ranked``) run folder; trained on first use."""
    from modelkit.curation import ranking

    run_dir = Path(basetemp) / "curation-run" / "tiny-utkface"
    if not (run_dir / ranking.MODEL_FILE).is_file():
        from modelkit.training.fit import train

        train(tiny_config(), run_dir=run_dir, verbose=0)
    if ranked and not ranking.suspects_path(run_dir).is_file():
        ranking.rank_run(run_dir, folds=3)
    return run_dir


def copy_into(run_dir: Path, runs_root: Path, name: str | None = None) -> Path:
    """A copy of ``run_dir`` under ``runs_root`` (the folder the pages list)."""
    runs_root.mkdir(parents=True, exist_ok=True)
    target = runs_root / (name or run_dir.name)
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    return target
