"""What a reader found before the image scan, and the checks every reader shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from modelkit.data.manifest import Skipped


@dataclass
class RawSource:
    """What a reader found, before the image scan: one row per candidate image."""

    frame: pd.DataFrame
    race_classes: tuple[str, ...]
    root: Path
    skipped: list[Skipped] = field(default_factory=list)


def existing_dir(root, *, source: str) -> Path:
    if root is None:
        raise ValueError(f"{source}: no root given; pass the dataset folder (--root DIR)")
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{source}: root {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"{source}: root {str(path)!r} is not a folder")
    return path.resolve()
