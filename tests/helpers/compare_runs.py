"""Run folders written by hand for the compare tests (and the Compare page's): a
predictions table, ``config.json`` and ``status.json``, as a finished (or failed) run
leaves them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from modelkit import evaluate as ev


def write_run(root: Path, name: str, frame: pd.DataFrame | None, *, config: dict | None = None,
              state: str = "finished") -> Path:
    """A run folder: predictions (unless None), config.json and a status.json."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if frame is not None:
        frame.to_parquet(folder / ev.PREDICTIONS_FILE)
    (folder / "config.json").write_text(json.dumps({"source": "synthetic", "seed": 0, "limit": None,
                                                    "balance": "none", **(config or {})}))
    (folder / "status.json").write_text(json.dumps({"state": state, "epoch": 2, "epochs": 5,
                                                    "error": "boom" if state == "failed" else None}))
    return folder
