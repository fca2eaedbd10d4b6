"""The runs a report test reports on: the session's tiny UTKFace run with a FairFace
evaluation set, and a baseline beside it that answers one face in four's gender wrong
(a copy the compare sees as another recipe: twice the learning rate)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.samples import FAIRFACE
from tests.helpers.tiny_run import copy_run, trained_tiny_run


def answer_some_genders_wrong(folder: Path) -> None:
    """Every predictions file under ``folder``: one face in four answered wrong."""
    for path in folder.rglob("predictions.parquet"):
        frame = pd.read_parquet(path)
        wrong = frame.index % 4 == 0
        frame.loc[wrong, "gender_pred"] = frame.loc[wrong, "gender_true"].map(
            {"male": "female", "female": "male"})
        frame.to_parquet(path)


def report_runs(base: Path, work: Path, *, fairface_faces: int = 80) -> tuple[Path, Path]:
    """(run, baseline) under ``work``; ``base`` is the session's temp folder."""
    from modelkit.__main__ import main

    run = copy_run(trained_tiny_run(base), work / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACESCOPE_CACHE_DIR", str(Path(base) / "facescope-cache"))
        assert main(["predict", "--run-dir", str(run), "--source", "fairface", "--root",
                     str(FAIRFACE), "--limit", str(fairface_faces)]) == 0
    baseline = work / "baseline"
    shutil.copytree(run, baseline)
    config = json.loads((baseline / "config.json").read_text())
    (baseline / "config.json").write_text(json.dumps(config | {"lr": config["lr"] * 2}))
    answer_some_genders_wrong(baseline)
    return run, baseline
