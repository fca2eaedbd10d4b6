"""What to predict on: :class:`PredictRequest`, checked once, saved as a file.

``python -m modelkit predict`` builds one from its flags; the Evaluate page's form builds
one and hands it to a background job as ``job.json`` (a file, never a rebuilt
command line), and the job runs ``python -m modelkit predict --config job.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from modelkit.config import SOURCES
from modelkit.prediction.evalsets import check_name, default_name


@dataclass(frozen=True)
class PredictRequest:
    """One prediction of a run's model on another dataset.

    Attributes:
        run_dir: the run folder holding ``model.keras``.
        source, root, labels, limit, seed: the dataset, as ``modelkit.data.load_dataset``
            takes it (``limit``: a seeded random subset of that many images).
        name: the evaluation set's name, ``<run_dir>/eval/<name>/`` (default: the source,
            ``-aligned`` added with ``align``).
        align: detect and align the faces first (loosely cropped sets).
        batch_size: images per model call (default 64).

    Raises:
        ValueError: an unknown source, a bad name, limit or batch size.
    """

    run_dir: str
    source: str
    root: str | None = None
    labels: str | None = None
    limit: int | None = None
    name: str | None = None
    align: bool = False
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; expected one of {', '.join(SOURCES)}")
        for field, value in (("limit", self.limit), ("batch_size", self.batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if self.batch_size is None:
            raise ValueError("batch_size must be a positive integer, got None")
        if self.name is not None:
            check_name(self.name)

    @property
    def set_name(self) -> str:
        """The evaluation set's folder name: ``name``, else the default for the source."""
        return self.name or default_name(self.source, align=self.align)

    def with_absolute_paths(self) -> PredictRequest:
        """The same request with its folders and files made absolute (for a job that
        runs in another working directory)."""
        absolute = {f: os.path.abspath(os.path.expanduser(getattr(self, f)))
                    for f in ("run_dir", "root", "labels") if getattr(self, f)}
        return dataclasses.replace(self, **absolute)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PredictRequest:
        """Raises ValueError naming a setting PredictRequest does not take."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown predict setting(s) {', '.join(unknown)}; "
                             f"expected any of {', '.join(sorted(names))}")
        return cls(**values)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PredictRequest:
        """Raises FileNotFoundError for a missing file, ValueError for a bad one."""
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"no predict request file at {file}")
        try:
            values = json.loads(file.read_text())
        except ValueError as exc:
            raise ValueError(f"{file} is not JSON ({exc}); expected a PredictRequest object") from None
        if not isinstance(values, dict):
            raise ValueError(f"{file} holds {type(values).__name__}, expected a JSON object")
        return cls.from_dict(values)
