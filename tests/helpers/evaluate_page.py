"""The Evaluate page's script, and run folders for it: a predictions table written by
hand to the contract whose paths point at small real images (the gallery shows them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from modelkit import evaluate as ev

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "evaluate.py")


def write_run(root: Path, name: str, frame: pd.DataFrame) -> Path:
    """A run folder with predictions whose paths point at small real images."""
    folder = root / name
    images = folder / "faces"
    images.mkdir(parents=True)
    paths = []
    for i in range(len(frame)):
        path = images / f"{i}.png"
        Image.fromarray(np.full((40, 40, 3), (i * 37) % 255, np.uint8)).save(path)
        paths.append(str(path))
    frame.assign(path=paths).to_parquet(folder / ev.PREDICTIONS_FILE)
    return folder
