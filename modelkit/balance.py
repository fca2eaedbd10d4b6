"""The balance plan: how often each image is shown per epoch so the counts even out.

Real face sets are skewed (UTKFace has ten times more 20-39 year-olds than 70+).
The plan oversamples, never undersamples: for the attribute being balanced, each
value's count after the plan is ``max(n, min(target, n * max_repeat))`` — originals
are always kept, and no image is reused more than ``max_repeat`` times, so a class of
three images does not become a thousand copies of the same three faces. The
repeats are drawn on the fly by the pipeline with augmentation, so copies differ.

Example:
    >>> plan = plan_balance(manifest, attribute="age_group", target="max", max_repeat=4)
    >>> plan.after                      # counts of the balanced attribute
    >>> plan.counts_after("race")       # how the race mix shifts as a side effect
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.data.manifest import counts

BalanceAttribute = Literal["age_group", "gender", "race", "joint"]
Target = Union[Literal["max", "median"], int]
BALANCE_ATTRIBUTES = ("age_group", "gender", "race", "joint")


@dataclass(frozen=True)
class BalancePlan:
    """A resolved plan. ``weights`` holds each row's expected repeat count (>= 1);
    ``repeats`` the integer repeats actually used (seeded), whose per-value sums
    equal ``after`` exactly."""

    attribute: str
    target: int
    max_repeat: int
    before: pd.Series
    after: pd.Series
    weights: np.ndarray
    repeats: np.ndarray
    manifest: pd.DataFrame

    def counts_after(self, attribute: str) -> pd.Series:
        """Images per value of any attribute once the plan's repeats are applied."""
        return counts(self.manifest, attribute, weights=self.repeats)

    def counts_before(self, attribute: str) -> pd.Series:
        return counts(self.manifest, attribute)


def cell_keys(manifest: pd.DataFrame, attribute: str) -> pd.Series:
    """The value each row is balanced on: one attribute, or the joint
    age_group × gender × race cell (a missing label is a level of its own)."""
    if attribute == "joint":
        parts = [manifest[a].astype(object).where(manifest[a].notna(), labels.NOT_LABELLED)
                 .astype(str) for a in labels.ATTRIBUTES]
        return parts[0] + " · " + parts[1] + " · " + parts[2]
    return manifest[attribute].astype(object)


def resolve_target(target: Target, sizes: pd.Series) -> int:
    """Turn ``max`` / ``median`` / a number into a count, over the non-empty values."""
    present = sizes[sizes > 0]
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if target == "max":
        return int(present.max()) if len(present) else 0
    if target == "median":
        return int(round(float(present.median()))) if len(present) else 0
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target >= 0:
        return int(target)
    raise ValueError(f"target must be 'max', 'median' or a count >= 0; received {target!r}")


def plan_balance(
    manifest: pd.DataFrame,
    *,
    attribute: BalanceAttribute,
    target: Target = "max",
    max_repeat: int = 4,
    seed: int = 0,
) -> BalancePlan:
    """Plan the oversampling of ``manifest`` that evens out ``attribute``.

    Args:
        manifest: a manifest (see ``modelkit.data.manifest``).
        attribute: ``age_group``, ``gender``, ``race`` or ``joint`` (the
            age_group × gender × race cells).
        target: the count each value is raised towards: ``"max"`` (the largest
            value's count), ``"median"``, or a number.
        max_repeat: K, the most times one image may be used per epoch (>= 1).
        seed: draws which images of a value take the leftover repeats.

    Rows whose balanced attribute is not labelled keep weight 1.

    Raises:
        ValueError: an unknown attribute, a bad target or ``max_repeat < 1``.
    """
    if attribute not in BALANCE_ATTRIBUTES:
        raise ValueError(f"attribute must be one of {BALANCE_ATTRIBUTES}; received {attribute!r}")
    if not isinstance(max_repeat, (int, np.integer)) or max_repeat < 1:
        raise ValueError(f"max_repeat must be an integer >= 1; received {max_repeat!r}")
    keys = cell_keys(manifest, attribute).reset_index(drop=True)
    labelled = keys.notna().to_numpy()
    sizes = keys[labelled].value_counts()
    if attribute != "joint":
        sizes = sizes.reindex(list(manifest[attribute].cat.categories), fill_value=0)
    goal = resolve_target(target, sizes)
    after = np.maximum(sizes, np.minimum(goal, sizes * max_repeat)).astype(int)

    weights = np.ones(len(manifest))
    repeats = np.ones(len(manifest), dtype=np.int64)
    rng = np.random.default_rng(seed)
    groups = keys[labelled].groupby(keys[labelled]).groups  # value -> row positions
    for value, rows in sorted(groups.items(), key=lambda kv: str(kv[0])):
        rows = np.asarray(rows)
        n, total = len(rows), int(after[value])
        base, extra = divmod(total, n)
        weights[rows] = total / n
        repeats[rows] = base
        repeats[rng.choice(rows, size=extra, replace=False)] += 1
    return BalancePlan(
        attribute=attribute, target=goal, max_repeat=int(max_repeat),
        before=sizes.astype(int), after=after, weights=weights, repeats=repeats,
        manifest=manifest.reset_index(drop=True),
    )
