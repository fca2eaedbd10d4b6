"""Shared fixtures. Every test gets its own runs root and the session a cache dir of
its own, so nothing a test writes leaks into the user's ~/.cache or ./runs, and no
test's runs show up in another's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures import tiny_synthetic_root  # noqa: F401  (session fixture)

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
