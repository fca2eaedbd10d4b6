"""Shared fixtures. Every test gets its own runs root and the session a cache dir of
its own, so nothing a test writes leaks into the user's ~/.cache or ./runs, and no
test's runs show up in another's. The code that fixtures and tests share (writers of
datasets and run folders, waits, the fake trainer) is in tests/helpers/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.datasets import make_tiny_synthetic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, tmp_path, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "facescope-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("FACESCOPE_CACHE_DIR", str(cache))
    # Each test its own runs root: a run (and its registry) never leaks into another test.
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(tmp_path / "runs"))
    # The default synthetic set is 10,000 faces; tests that load it get a small one.
    monkeypatch.setenv("FACESCOPE_SYNTHETIC_N", "120")


@pytest.fixture
def runs_root(tmp_path) -> Path:
    """The test's runs root (``FACESCOPE_RUNS_ROOT``, set above), created."""
    root = tmp_path / "runs"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def tiny_synthetic_root(tmp_path_factory) -> Path:
    """One 60-face synthetic set for the whole test session (read-only: don't modify)."""
    return make_tiny_synthetic(tmp_path_factory.mktemp("tiny-synthetic"), n=60)


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    """An untrained 32-px small_cnn saved as model.keras, for the Explain page's run
    folders (tests/helpers/explain_page.py); one per module (building and saving it is
    the slow part)."""
    from modelkit.model import build_model  # TensorFlow: only where a test asks for it
    from tests.helpers.explain_page import RACES, SIZE

    model = build_model(backbone="small_cnn", image_size=SIZE, race_classes=RACES,
                        weights="none")
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path
