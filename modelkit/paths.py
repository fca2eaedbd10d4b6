"""Where FaceScope keeps things: runs, caches, and the folders users may read data from.

Every location can be moved with an environment variable, so tests, CI and several
users on one machine never step on each other.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def runs_root(override: str | os.PathLike | None = None) -> Path:
    """The runs root: ``override``, else ``$FACESCOPE_RUNS_ROOT``, else ``./runs``."""
    return Path(override or os.environ.get("FACESCOPE_RUNS_ROOT") or "runs").resolve()


def cache_dir() -> Path:
    """Scan results and the generated synthetic set: ``$FACESCOPE_CACHE_DIR`` or
    ``~/.cache/facescope``. Dataset folders are never written to (they may be
    read-only or shared)."""
    path = Path(os.environ.get("FACESCOPE_CACHE_DIR") or Path.home() / ".cache" / "facescope")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_roots() -> list[Path]:
    """Folders a dataset path typed in the dashboard may lie under.

    ``$FACESCOPE_DATA_ROOTS`` (``os.pathsep``-separated) when set; else the cache
    (the synthetic set), ``./data`` and the ``../shared/data`` beside the checkout.
    The CLI is not limited: whoever runs it already has the shell.
    """
    configured = os.environ.get("FACESCOPE_DATA_ROOTS")
    if configured:
        return [Path(p).expanduser().resolve() for p in configured.split(os.pathsep) if p]
    return [cache_dir().resolve(), (REPO_ROOT / "data").resolve(),
            (REPO_ROOT.parent / "shared" / "data").resolve()]


def is_under_data_root(path: str | os.PathLike, roots: list[Path] | None = None) -> bool:
    """True when ``path`` (after resolving ``..`` and symlinks) lies in a data root."""
    resolved = Path(path).expanduser().resolve()
    return any(resolved == root or root in resolved.parents for root in (roots or data_roots()))
