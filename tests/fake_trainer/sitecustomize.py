"""Test shim: processes started with this folder on ``PYTHONPATH`` train with the fake.

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has
one, so a supervisor or trainer launched by ``modelkit.runs`` under a test (which puts
this folder on ``PYTHONPATH``; the launcher passes its environment on) runs this before
anything else. It adds one import finder, first in ``sys.meta_path``, that serves the
module ``modelkit.training.fit`` from ``fake_fit.py`` beside it. Everything else is the
real code: the launcher, the supervisor module, ``python -m modelkit train --config
... --run-dir ...``, the CLI's TrainConfig loading, ``modelkit.training`` and its
``cluster_task``; only the last call, ``train(config, run_dir=, resume=)``, is the fake.
Production code has no branch for it.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_FAKE = Path(__file__).resolve().with_name("fake_fit.py")


class _FakeTrainerFinder(importlib.abc.MetaPathFinder):
    """Finds ``modelkit.training.fit`` in fake_fit.py; defers every other name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "modelkit.training.fit":
            return importlib.util.spec_from_file_location(fullname, _FAKE)
        return None


sys.meta_path.insert(0, _FakeTrainerFinder())
