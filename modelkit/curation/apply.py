"""A corrections file's standing decisions applied to a dataset: what ``train
--corrections``, the Dataset page and the Review page train or count on.

``set`` relabels, ``exclude`` drops the image, ``keep`` changes nothing; the file
itself (its format, paths and the latest-decision rule) is
``modelkit.curation.corrections``. The dataset's files are never touched: the result
is a new ``Dataset`` whose manifest carries the corrected labels.

Example::

    dataset, report = apply_corrections(load_dataset("utkface", root=root), file=file)
    report.relabelled, report.excluded, report.missing
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.curation.corrections import (
    Decision,
    check_value,
    file_sha256,
    latest_decisions,
    parse_decisions,
    read_bytes,
    relative_path,
)
from modelkit.data.manifest import Dataset


@dataclass
class CorrectionReport:
    """What applying a corrections file did to a dataset."""

    file: str
    sha256: str
    decisions: int = 0  # (path, attribute) pairs with a standing decision
    relabelled: int = 0  # images with at least one label changed
    excluded: int = 0  # images dropped
    kept: int = 0  # (path, attribute) pairs confirmed as right
    missing: list[str] = field(default_factory=list)  # decided paths not in the dataset

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = f"{self.relabelled:,} relabelled, {self.excluded:,} excluded"
        return text + (f" ({len(self.missing):,} decisions name images not in this dataset: "
                       "ignored)" if self.missing else "")


def apply_corrections(dataset: Dataset, *, file: str | os.PathLike) -> tuple[Dataset, CorrectionReport]:
    """The dataset with ``file``'s standing decisions applied, and what changed.

    ``set`` relabels (an age in years also sets its age group; an age group that the
    known age contradicts clears the years, so training uses the group alone);
    ``exclude`` drops the image; ``keep`` changes nothing. Decisions naming images not
    in the dataset are listed in ``report.missing`` and ignored.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line, or a value outside the dataset's vocabulary
            (the message names the line's image and the allowed values).
    """
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"corrections file {file} not found; pass the file the Review "
                                "page or `labels review` wrote, or drop --corrections")
    data = read_bytes(file)
    standing = latest_decisions(parse_decisions(data, name=str(file)))
    report = CorrectionReport(file=str(file.resolve()), sha256=file_sha256(data))
    manifest = dataset.manifest.reset_index(drop=True).copy()
    keys = [relative_path(p, root=dataset.root) for p in manifest["path"].astype(str)]
    row_of = {key: i for i, key in enumerate(keys)}
    changed, dropped = set(), set()
    for (path, attribute), decision in standing.items():
        report.decisions += 1
        row = row_of.get(path)
        if row is None:
            report.missing.append(path)
            continue
        if decision.action == "keep":
            report.kept += 1
        elif decision.action == "exclude":
            dropped.add(row)
        elif _relabel(manifest, row, attribute, decision, dataset=dataset, name=str(file)):
            changed.add(row)
    report.missing = sorted(set(report.missing))
    report.excluded = len(dropped)
    report.relabelled = len(changed - dropped)
    kept_rows = manifest.drop(index=sorted(dropped)).reset_index(drop=True)
    return replace(dataset, manifest=kept_rows), report


def _relabel(manifest: pd.DataFrame, row: int, attribute: str, decision: Decision, *,
             dataset: Dataset, name: str) -> bool:
    """Set one label in place; True when it changed."""
    try:
        value = check_value(attribute, decision.value, race_classes=dataset.race_classes)
    except ValueError as exc:
        raise ValueError(f"{name}: the decision on {decision.path} ({attribute}): {exc}") from None
    before = manifest.loc[row, ["age", "age_group", "gender", "race"]].to_dict()
    if attribute == "age":
        manifest.loc[row, "age"] = value
        manifest.loc[row, "age_group"] = labels.age_to_group([value])[0]
    elif attribute == "age_group":
        manifest.loc[row, "age_group"] = value
        age = manifest.loc[row, "age"]
        if pd.notna(age) and labels.age_to_group([age])[0] != value:
            manifest.loc[row, "age"] = np.nan
    else:
        manifest.loc[row, attribute] = value
    after = manifest.loc[row, ["age", "age_group", "gender", "race"]].to_dict()
    return any(not (pd.isna(before[k]) and pd.isna(after[k])) and before[k] != after[k] for k in before)
