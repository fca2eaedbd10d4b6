"""Race vocabularies that differ between a model and an evaluation set, folded, never
silently compared.

A UTKFace model knows 5 race classes, FairFace labels 7. Comparing ``East Asian``
with ``Asian`` as strings would count every East Asian face wrong; comparing only the
names both share would drop faces. So the two are compared in the coarser vocabulary,
through the one table ``modelkit.labels.RACE_MAPPINGS``:

- ``identity``: every class of the set is one of the model's (no change);
- ``labels``: the set's classes are the finer ones (FairFace set, UTKFace model): its
  labels are folded into the model's classes, and its own labels are kept in the
  ``race_source_true`` column, so per-group tables can still ask "how does the model do
  on Southeast Asian faces?";
- ``predictions``: the model's classes are the finer ones (FairFace model, UTKFace
  set): its probabilities are summed into the set's classes, the prediction is the
  most probable of those;
- ``none``: the set has no race labels, so there are no race figures at all.

A class neither vocabulary nor the table knows is an error naming it and the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from modelkit.labels import RACE_MAPPINGS, RACE_VOCABULARIES

MAPPING_KINDS = ("identity", "labels", "predictions", "none")
SOURCE_RACE_COLUMN = "race_source_true"  # the set's own race label, when folded
PROB_RACE = "prob_race_"


@dataclass(frozen=True)
class RaceMapping:
    """How an evaluation set's race labels meet a model's race classes.

    Attributes:
        kind: one of ``MAPPING_KINDS`` (see the module docstring).
        source_classes: the set's own classes.
        model_classes: the model's race head classes, in output order.
        compared_classes: the classes the race figures are computed over.
        table: finer class -> coarser class ({} for identity and none).
        vocabularies: (finer, coarser) vocabulary names when a table is used.
    """

    kind: str
    source_classes: tuple[str, ...]
    model_classes: tuple[str, ...]
    compared_classes: tuple[str, ...]
    table: dict[str, str] = field(default_factory=dict)
    vocabularies: tuple[str, str] | None = None

    def to_json_dict(self) -> dict:
        """The ``race_mapping`` entry of ``eval.json``."""
        return {"kind": self.kind, "source_classes": list(self.source_classes),
                "model_classes": list(self.model_classes),
                "compared_classes": list(self.compared_classes), "table": dict(self.table),
                "from": self.vocabularies[0] if self.vocabularies else None,
                "to": self.vocabularies[1] if self.vocabularies else None}


def vocabulary_of(classes: Sequence[str]) -> str | None:
    """The name of the known vocabulary that is exactly ``classes``, else the first that
    holds them all (a CSV naming a few FairFace classes), else None."""
    wanted = set(classes)
    for name, vocabulary in RACE_VOCABULARIES.items():
        if wanted == set(vocabulary):
            return name
    return next((n for n, v in RACE_VOCABULARIES.items() if wanted <= set(v)), None)


def resolve_race_mapping(*, source_classes: Sequence[str], model_classes: Sequence[str],
                         labelled: bool, source: str = "the evaluation set") -> RaceMapping:
    """How to compare the set's race labels with the model's race predictions.

    Args:
        source_classes: the set's race classes (its manifest's categories).
        model_classes: the model's race classes (the run's ``race_classes``).
        labelled: whether any image of the set has a race label.
        source: the set's name, for the error message.

    Raises:
        ValueError: a class of the set that is not the model's and that no table of
            ``modelkit.labels.RACE_MAPPINGS`` maps, naming the value and the table.
    """
    source_classes, model_classes = tuple(source_classes), tuple(model_classes)
    if not labelled:
        return RaceMapping("none", source_classes, model_classes, model_classes)
    if set(source_classes) <= set(model_classes):
        return RaceMapping("identity", source_classes, model_classes, model_classes)
    theirs, ours = vocabulary_of(source_classes), vocabulary_of(model_classes)
    if (theirs, ours) in RACE_MAPPINGS:
        table = RACE_MAPPINGS[(theirs, ours)]
        _check_targets(table, model_classes, side="model")
        return RaceMapping("labels", source_classes, model_classes, model_classes,
                           {c: table[c] for c in source_classes}, (theirs, ours))
    if (ours, theirs) in RACE_MAPPINGS:
        table = RACE_MAPPINGS[(ours, theirs)]
        compared = tuple(c for c in RACE_VOCABULARIES[theirs]
                         if c in set(table[m] for m in model_classes) | set(source_classes))
        return RaceMapping("predictions", source_classes, model_classes, compared,
                           {c: table[c] for c in model_classes}, (ours, theirs))
    unknown = next(c for c in source_classes if c not in model_classes)
    known = ", ".join(f"{a} -> {b}" for a, b in RACE_MAPPINGS)
    raise ValueError(
        f"race class {unknown!r} of {source} is not one of the model's race classes "
        f"({', '.join(model_classes)}) and no mapping between the two vocabularies is known "
        f"(mappings: {known}); add the class to a table in modelkit.labels.RACE_MAPPINGS "
        "(docs/CONTRACTS.md, 'Label mappings'), or relabel the set with the model's classes")


def _check_targets(table: dict[str, str], model_classes: tuple[str, ...], *, side: str) -> None:
    missing = sorted(set(table.values()) - set(model_classes))
    if missing:
        raise ValueError(f"the race mapping folds into {', '.join(missing)}, which the {side} "
                         f"does not have (its classes: {', '.join(model_classes)}); "
                         "extend modelkit.labels.RACE_MAPPINGS or relabel the set")


def apply_race_mapping(frame: pd.DataFrame, mapping: RaceMapping) -> pd.DataFrame:
    """A predictions table (the run's contract, race columns in the set's and the
    model's own classes) with race compared in ``mapping.compared_classes``."""
    out = frame.copy()
    if mapping.kind == "labels":
        own = [None if pd.isna(v) else str(v) for v in out["race_true"]]
        out[SOURCE_RACE_COLUMN] = np.array(own, dtype=object)
        out["race_true"] = np.array([None if v is None else mapping.table[v] for v in own],
                                    dtype=object)
    elif mapping.kind == "predictions":
        fine = out[[f"{PROB_RACE}{c}" for c in mapping.model_classes]].to_numpy(float)
        fold = np.array([[mapping.table[m] == c for c in mapping.compared_classes]
                         for m in mapping.model_classes], dtype=float)
        coarse = fine @ fold
        predicted = out["race_pred"].notna().to_numpy()
        out["race_pred"] = np.where(
            predicted, np.asarray(mapping.compared_classes, dtype=object)[coarse.argmax(axis=1)]
            if len(out) else np.zeros(0, dtype=object), None)
        out = out.drop(columns=[f"{PROB_RACE}{c}" for c in mapping.model_classes])
        for j, c in enumerate(mapping.compared_classes):
            out[f"{PROB_RACE}{c}"] = coarse[:, j]
    return out
