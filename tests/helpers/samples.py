"""The shared sample faces (real UTKFace and FairFace images beside the repository),
a seeded pick of their files, and faces pasted on one canvas (a group photo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from modelkit.data import decode

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
UTKFACE = SHARED / "utkface_sample"
FAIRFACE = SHARED / "fairface_sample"


def sample_files(folder: Path, n: int, *, seed: int = 0) -> list[Path]:
    files = sorted(folder.rglob("*.jpg"))
    assert files, f"the shared sample {folder} is missing"
    picks = np.random.default_rng(seed).choice(len(files), n, replace=False)
    return [files[i] for i in sorted(picks)]


def pasted(files, *, canvas=(640, 400), places=((60, 100, 200), (380, 120, 180)),
           background=(118, 124, 130)) -> np.ndarray:
    """Sample faces pasted on one flat canvas: (x, y, side) per face."""
    image = Image.new("RGB", canvas, background)
    for file, (x, y, side) in zip(files, places, strict=False):
        face = Image.fromarray(decode.decode_file(file)).resize((side, side), Image.LANCZOS)
        image.paste(face, (x, y))
    return np.asarray(image)
