"""Where a result came from: FaceScope's version and commit, the time, and a hash of
the data a run trained on.

A run records these in its ``config.json`` (``provenance``), and a report says how it
was made with the same fields, so someone holding the same run and data can tell
whether they hold the same thing. Imports nothing of the project but its version.

Example::

    made_by()          # {"facescope_version": "0.1.0", "commit": "51c87c2...", "dirty": False, ...}
    manifest_sha256(manifest)   # same faces, labels and splits -> same hash
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pandas as pd

from modelkit import __version__

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What a face's identity is in the hash: its file and every label training reads.
HASHED_COLUMNS = ("path", "age", "age_group", "gender", "race", "split")


def source_commit(directory: Path = PROJECT_DIR) -> tuple[str | None, bool | None]:
    """The git commit of FaceScope's own checkout and whether its tracked files differ
    from it; ``(None, None)`` outside a git checkout (an installed copy)."""
    try:
        commit = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(directory), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit.stdout.strip() or None, bool(dirty.stdout.strip())


def made_by() -> dict:
    """FaceScope's version, commit (``dirty`` when the checkout has uncommitted
    changes) and the time, in UTC ISO 8601."""
    commit, dirty = source_commit()
    return {"facescope_version": __version__, "commit": commit, "dirty": dirty,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def manifest_sha256(manifest: pd.DataFrame) -> str:
    """A sha256 of a manifest's faces and labels, independent of row order.

    Rows are written as tab-separated ``HASHED_COLUMNS`` (missing ones empty), sorted,
    so the same faces with the same labels and splits hash the same however the
    reader listed them; a changed label, split or file changes the hash.
    """
    columns = [c for c in HASHED_COLUMNS if c in manifest.columns]
    text = manifest[columns].astype("string").fillna("").agg("\t".join, axis=1)
    digest = hashlib.sha256("\t".join(columns).encode())
    for line in sorted(text):
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()
