"""The stand-in trainer (tests/fake_trainer/): processes started from a test train
with fake_fit.py instead of ``modelkit.training.fit``, and after a test every run is
stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelkit import runs

FAKE_TRAINER_PATH = Path(__file__).resolve().parents[1] / "fake_trainer"


def install_fake_trainer(monkeypatch) -> Path:
    """Make processes started from this test train with tests/fake_trainer/fake_fit.py.

    Puts the shim folder first on ``PYTHONPATH``, which the launcher passes on to the
    supervisor and the trainer (see tests/fake_trainer/sitecustomize.py).
    """
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(FAKE_TRAINER_PATH), os.environ.get("PYTHONPATH")) if p))
    return FAKE_TRAINER_PATH


def stop_all_runs(*, timeout: float) -> None:
    """Cancel every queued or active run and wait for each: a test leaves no process."""
    runs.reconcile()
    for run in runs.list_runs():
        if run.state in ("queued", *runs.ACTIVE):
            runs.cancel(run.id)
    for run in runs.list_runs():
        runs.wait(run.id, timeout=timeout)


def fake_trainer_fixture(batch_s: float, *, stop_timeout: float):
    """A ``fake_trainer`` fixture for a page's tests: the fake trainer with batches of
    ``batch_s`` seconds, and after the test every run stopped (no process left)."""
    @pytest.fixture
    def fake_trainer(monkeypatch):
        shim = install_fake_trainer(monkeypatch)
        monkeypatch.setenv("FAKE_BATCH_S", str(batch_s))
        yield shim
        stop_all_runs(timeout=stop_timeout)
    return fake_trainer
