"""Where FaceScope keeps things: runs, caches, and the folders users may read data from.

Every location can be moved with an environment variable, so tests, CI and several
users on one machine never step on each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
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


def check_data_path(typed: str | os.PathLike, *, roots: Iterable[str | os.PathLike] | None = None) -> Path:
    """The one rule for "may the dashboard read this typed path?": the resolved path,
    or ``ValueError`` with a message to show as it is.

    ``~`` is expanded; a relative path is taken from the current working directory
    (the dashboard server's, not the browser user's); ``..`` and symlinks are resolved
    *before* the check, so a link inside a root that points outside is refused and a
    path that resolves into a root is accepted. A root itself counts as inside; a
    sibling whose name merely starts with a root's (``/data2`` beside ``/data``) does
    not. An empty path is refused. ``roots`` defaults to ``data_roots()``; the path
    need not exist (say so separately). The message names the typed path, the allowed
    roots and ``FACESCOPE_DATA_ROOTS``, the way to allow another folder.
    """
    allowed = data_roots() if roots is None else [Path(r).expanduser().resolve() for r in roots]
    fix = (f"Move or link the data under one of them, or add its folder to FACESCOPE_DATA_ROOTS "
           f"({os.pathsep!r}-separated) before starting the dashboard.")
    where = ", ".join(map(str, allowed)) or "none configured"
    text = os.fspath(typed)
    if not text.strip():
        raise ValueError(f"{text!r} is empty: type a path under one of the folders the "
                         f"dashboard may read: {where}. {fix}")
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte...
        raise ValueError(f"{text!r} is not a usable path ({exc}).") from None
    if any(resolved == root or root in resolved.parents for root in allowed):
        return resolved
    shown = f"{text!r}" if str(resolved) == text else f"{text!r} (resolving to {resolved})"
    raise ValueError(f"{shown} is outside the folders the dashboard may read: {where}. {fix}")


def is_under_data_root(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> bool:
    """True when ``check_data_path`` accepts ``path``."""
    try:
        check_data_path(path, roots=roots)
    except ValueError:
        return False
    return True
