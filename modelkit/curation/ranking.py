"""Rank a run's suspect labels, in the foreground or as a background process.

``rank_run(run_dir)`` reads the run's dataset as training read it (its
``config.json``: source, root, limit, seed; the dataset's own labels, before any
corrections), embeds every image with the run's ``model.keras``
(``modelkit.curation.embed``; a run trained with ``align`` embeds the same aligned
crops, and its rows name the original images), ranks the labels
(``modelkit.curation.suspects``) and writes, in the run folder:

- ``suspects.parquet``: the ranked table (docs/CONTRACTS.md, "Suspect labels");
- ``suspects.json``: how it was made (images, folds, seconds per step, issues per
  attribute, the model's mtime it was ranked with).

Ranking can take minutes on a CPU, so the dashboard queues it as a background job
(:mod:`modelkit.curation.rank_jobs`), behind any training run.

Example::

    result = rank_run("runs/20241123-small_cnn-utkface")
    result.table.query("attribute == 'gender'").head(20)
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modelkit.config import TrainConfig
from modelkit.curation.suspects import DEFAULT_FOLDS, SUSPECT_COLUMNS
from modelkit.models.run_model import load_run_model
from modelkit.runfolder import CONFIG_FILE, MODEL_FILE, write_json, write_parquet

SUSPECTS_FILE = "suspects.parquet"
SUSPECTS_META = "suspects.json"


@dataclass(frozen=True)
class RankResult:
    table: pd.DataFrame
    meta: dict
    embeddings: object  # modelkit.curation.embed.Embeddings


def run_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run folder?")
    return json.loads(path.read_text())


def run_dataset(run_dir: str | os.PathLike):
    """The run's dataset, read as its training read it (``prepare.load_training_dataset``:
    the same subset and split seed; corrections not applied)."""
    from modelkit.data import load_dataset

    config = TrainConfig.from_dict(run_config(run_dir))
    return load_dataset(config.source, root=config.root, labels=config.labels,
                        limit=config.limit, seed=config.seed)


def rank_run(run_dir: str | os.PathLike, *, folds: int = DEFAULT_FOLDS, seed: int = 0,
             batch_size: int = 128, write: bool = True) -> RankResult:
    """Embed, rank and (``write``) save ``suspects.parquet`` + ``suspects.json``.

    Raises:
        FileNotFoundError: no config.json or model.keras in ``run_dir``.
    """
    run_dir = Path(run_dir)
    model_file = run_dir / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file} not found: the run has no trained model yet "
                                "(rank a finished run)")
    from modelkit.curation.embed import embed_images
    from modelkit.curation.suspects import find_suspects

    start = time.perf_counter()
    dataset = run_dataset(run_dir)
    seen = dataset.manifest  # the images the model saw, and the labels the table names
    if TrainConfig.from_dict(run_config(run_dir)).align:
        from modelkit.data.faces.crops import align_dataset

        # Embed the aligned crops the run trained on; name each row by its original
        # image (what a person judges, and what a corrections file keys).
        crops = align_dataset(dataset).manifest
        seen, dataset = crops, dataclasses.replace(
            dataset, manifest=crops.assign(path=crops["original_path"]).drop(columns="original_path"))
    loaded = time.perf_counter()
    model = load_run_model(run_dir)
    embeddings = embed_images(model, seen, race_classes=dataset.race_classes, batch_size=batch_size)
    embedded = time.perf_counter()
    table = find_suspects(embeddings.features, dataset.manifest, race_classes=dataset.race_classes,
                          folds=folds, seed=seed)
    ranked = time.perf_counter()
    meta = {"run_id": run_dir.name, "source": dataset.source, "root": dataset.root,
            "n_images": len(dataset.manifest), "folds": folds, "seed": seed,
            "race_classes": dataset.race_classes, "model_mtime": model_file.stat().st_mtime,
            "created": time.time(),
            "seconds": {"load": loaded - start, "embed": embedded - loaded, "rank": ranked - embedded,
                        "total": ranked - start},
            "rows": table.groupby("attribute").size().astype(int).to_dict(),
            "issues": table.groupby("attribute")["is_issue"].sum().astype(int).to_dict()}
    if write:
        write_suspects(run_dir, table, meta)
    return RankResult(table=table, meta=meta, embeddings=embeddings)


def write_suspects(run_dir: Path, table: pd.DataFrame, meta: dict) -> None:
    """Both files, each written to a temp name and renamed (a reader never sees half)."""
    write_parquet(run_dir / SUSPECTS_FILE, table)
    write_json(run_dir / SUSPECTS_META, meta)


def suspects_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / SUSPECTS_FILE


def read_suspects(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The run's ranked table.

    Raises:
        FileNotFoundError: not ranked yet (names the command that ranks it).
        ValueError: a table without the contract's columns.
    """
    path = suspects_path(run_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; rank the run first: "
                                f"python -m modelkit labels rank --run-dir {run_dir}")
    table = pd.read_parquet(path)
    missing = [c for c in SUSPECT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}; rank the run again")
    return table


def read_meta(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / SUSPECTS_META
    return json.loads(path.read_text()) if path.is_file() else {}
