"""The Explain page's script, and a tiny run folder for it: a saved model (tests/
conftest.py's ``tiny_model_file``: an untrained 32-px small_cnn), its config.json, and a
predictions table (to the contract) pointing at real image files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from streamlit.testing.v1 import AppTest

from modelkit import labels

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "explain.py")
RACES = list(labels.UTKFACE_RACES)
SIZE = 32


def write_run(root: Path, model_file: Path, *, name: str = "tiny", n: int = 12) -> Path:
    """A run folder: model.keras, config.json, predictions.parquet over n real images
    (half women, half men; the first third of each predicted wrong for gender)."""
    folder = root / name
    faces = folder / "faces"
    faces.mkdir(parents=True)
    (folder / "model.keras").write_bytes(model_file.read_bytes())
    (folder / "config.json").write_text(json.dumps({
        "source": "synthetic", "backbone": "small_cnn", "image_size": SIZE,
        "race_classes": RACES, "age_is_range": False}))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = faces / f"face_{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        gender = labels.GENDERS[i % 2]
        wrong = i < n // 3
        age = float(5 + 6 * i)
        group = str(labels.age_to_group([age])[0])
        rows.append({
            "path": str(path), "split": "test" if i % 3 else "val",
            "gender_true": gender, "gender_pred": labels.GENDERS[(i + wrong) % 2],
            "race_true": RACES[i % len(RACES)], "race_pred": RACES[0],
            "age_group_true": group, "age_group_pred": group,
            "age_true": age, "age_pred": age + 1.0, "age_true_is_midpoint": False,
        })
    pd.DataFrame(rows).to_parquet(folder / "predictions.parquet")
    return folder


def render(at: AppTest | None = None, timeout: int = 120) -> AppTest:
    if at is None:  # not `at or ...`: an AppTest that has not run yet is falsy
        at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
