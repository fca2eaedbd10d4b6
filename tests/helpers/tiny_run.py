"""A tiny model trained on real UTKFace faces, for the tests that predict with a run.

Training it (1 epoch, 200 faces, 32 px) takes about half a minute on a loaded CPU, so
it is trained once per test session under the session's temp folder and each test
gets its own copy of the run folder (tests add evaluation sets to it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.samples import UTKFACE

IMAGE_SIZE = 32
RUN_FILES = ("config.json", "model.keras", "predictions.parquet", "status.json")


def trained_tiny_run(base: Path) -> Path:
    """The session's tiny run (trained the first time it is asked for)."""
    run_dir = Path(base) / "tiny-utkface-run"
    if (run_dir / "model.keras").is_file():
        return run_dir
    import pytest

    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    config = TrainConfig(source="utkface", root=str(UTKFACE), limit=200, epochs=1, backbone="small_cnn",
                         image_size=IMAGE_SIZE, batch_size=32)
    # Module fixtures run before the per-test cache dir is set: use the session's own
    # (tests/conftest.py's), never the user's ~/.cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACESCOPE_CACHE_DIR", str(Path(base) / "facescope-cache"))
        return train(config, run_dir=run_dir, verbose=0)


def copy_run(source: Path, target: Path) -> Path:
    """A fresh copy of a run folder's files (no evaluation sets, no checkpoints)."""
    target.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(source / name, target / name)
    return target
