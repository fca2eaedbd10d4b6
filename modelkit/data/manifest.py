"""The manifest: one row per image, the data contract every reader produces.

Columns (see DESIGN.md): ``path`` (absolute), ``age`` (float, NaN when unknown),
``age_group`` (ordered category), ``gender`` and ``race`` (categories whose
categories list *all* of the source's classes, so a class with no images still
gets a head unit and a zero bar), ``split`` (train/val/test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from modelkit import labels

MANIFEST_COLUMNS = ("path", "age", "age_group", "gender", "race", "split")


@dataclass
class Skipped:
    """An input the reader could not use, and why (shown to the user, never fatal)."""

    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Dataset:
    """A manifest with what was left out of it and where it came from."""

    manifest: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""
    root: str = ""

    @property
    def race_classes(self) -> list[str]:
        return list(self.manifest["race"].cat.categories)

    @property
    def age_is_range(self) -> bool:
        """True when the source gives only age groups (FairFace), not years."""
        return bool(len(self.manifest)) and self.manifest["age"].isna().all() and \
            self.manifest["age_group"].notna().any()


def build_manifest(
    frame: pd.DataFrame,
    *,
    race_classes: tuple[str, ...] | list[str],
) -> pd.DataFrame:
    """Type a raw table (path, age and/or age_group, gender, race, split) as a manifest.

    Missing attribute columns become all-null; ``age_group`` is derived from ``age``
    where the source gave none.

    Raises:
        ValueError: a value outside the vocabularies in ``modelkit.labels``.
    """
    out = pd.DataFrame({"path": frame["path"].astype(str).to_numpy()})
    age = pd.to_numeric(frame["age"], errors="coerce") if "age" in frame else np.nan
    out["age"] = np.asarray(age, dtype=float) if "age" in frame else np.full(len(out), np.nan)
    if "age_group" in frame:
        groups = _as_category(frame["age_group"], labels.AGE_GROUPS, "age_group", ordered=True)
        from_age = labels.age_to_group(out["age"])
        groups = pd.Categorical(
            np.where(pd.isna(groups), from_age.astype(object), groups.astype(object)),
            categories=list(labels.AGE_GROUPS), ordered=True,
        )
    else:
        groups = labels.age_to_group(out["age"])
    out["age_group"] = groups
    out["gender"] = _as_category(frame.get("gender"), labels.GENDERS, "gender", n=len(out))
    out["race"] = _as_category(frame.get("race"), tuple(race_classes), "race", n=len(out))
    out["split"] = _as_category(frame.get("split"), labels.SPLITS, "split", n=len(out))
    return out


def _as_category(values, vocabulary, column, *, ordered=False, n=None) -> pd.Categorical:
    if values is None:
        return pd.Categorical([None] * n, categories=list(vocabulary), ordered=ordered)
    series = pd.Series(values).astype(object)
    series = series.where(series.notna(), None)
    unknown = sorted({str(v) for v in series.dropna().unique()} - set(vocabulary))
    if unknown:
        raise ValueError(
            f"unknown {column} value(s) {unknown}; expected one of {list(vocabulary)}"
        )
    return pd.Categorical(series, categories=list(vocabulary), ordered=ordered)


def assign_splits(
    manifest: pd.DataFrame,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> pd.DataFrame:
    """Fill the ``split`` column where it is empty: a seeded split stratified by
    gender × race × age group, so every split sees the same mix.

    Rows that already carry a split (a source's own train/val) keep it. Strata too
    small to split fall back to a plain seeded draw, so the result is the same for
    the same manifest and seed on any machine.
    """
    out = manifest.copy()
    todo = out.index[out["split"].isna()]
    if len(todo) == 0:
        return out
    rng = np.random.default_rng(seed)
    keys = out.loc[todo, ["gender", "race", "age_group"]].astype(object).fillna("?").astype(str)
    strata = keys["gender"] + "|" + keys["race"] + "|" + keys["age_group"]
    assigned = pd.Series(index=todo, dtype=object)
    cumulative = np.cumsum(fractions) / np.sum(fractions)
    for _, idx in sorted(strata.groupby(strata).groups.items()):
        idx = np.asarray(idx)
        order = rng.permutation(len(idx))
        # Position i of n takes the split whose cumulative share first exceeds
        # (i + offset) / n; a random offset spreads small strata's leftovers.
        positions = (np.arange(len(idx)) + rng.random()) / len(idx)
        which = np.searchsorted(cumulative, positions, side="right")
        assigned[idx[order]] = np.asarray(labels.SPLITS)[np.minimum(which, 2)]
    out.loc[todo, "split"] = assigned
    out["split"] = pd.Categorical(out["split"], categories=list(labels.SPLITS))
    return out


def counts(manifest: pd.DataFrame, attribute: str, weights=None) -> pd.Series:
    """Images per value of ``attribute`` (all classes, in vocabulary order), with the
    unlabelled ones under ``labels.NOT_LABELLED`` when there are any.

    ``weights`` (one per row) counts each image that many times: the after-plan view.
    """
    column = manifest[attribute]
    w = np.ones(len(manifest)) if weights is None else np.asarray(weights, dtype=float)
    totals = pd.Series(w, index=manifest.index).groupby(column, observed=False).sum()
    totals = totals.reindex(list(column.cat.categories), fill_value=0)
    missing = w[column.isna().to_numpy()].sum()
    if missing:
        totals[labels.NOT_LABELLED] = missing
    return totals.round().astype(int)
