"""The balance plan: how often each image is shown per epoch so the counts even out.

Training plans over the **train split only** (:func:`training_plan`), with
``TrainConfig``'s settings; the Dataset page and ``data summary`` call the same
function, so the "after" counts they show are exactly the images one training epoch
draws (the pipeline repeats each row ``plan.repeats[row]`` times).

Real face sets are skewed (UTKFace has ten times more 20-39 year-olds than 70+).
The plan oversamples, never undersamples: for the attribute being balanced, each
value's count after the plan is ``max(n, min(target, n * max_repeat))`` — originals
are always kept, and no image is reused more than ``max_repeat`` times, so a class of
three images does not become a thousand copies of the same three faces. The
repeats are drawn on the fly by the pipeline with augmentation, so copies differ.

Example:
    >>> plan = training_plan(manifest, balance="age_group", target="max", max_repeat=3, seed=0)
    >>> plan.after                      # counts of the balanced attribute, train split
    >>> plan.counts_after("race")       # how the race mix shifts as a side effect
    >>> plan.images_per_epoch           # what one epoch of training holds
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from modelkit import labels
from modelkit.config import BALANCE_MODES, DEFAULTS
from modelkit.data.manifest import counts

BalanceAttribute = Literal["age_group", "gender", "race", "joint"]
Target = Literal["max", "median"] | int
# The modes that oversample ("none" trains on the split as it is).
BALANCE_ATTRIBUTES: tuple[str, ...] = tuple(m for m in BALANCE_MODES if m != "none")
TRAIN_SPLIT = "train"


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

    @property
    def images_per_epoch(self) -> int:
        """Images one pass over the planned rows holds."""
        return int(self.repeats.sum())


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
    target: Target = DEFAULTS.target,
    max_repeat: int = DEFAULTS.max_repeat,
    seed: int = DEFAULTS.seed,
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
        raise ValueError(f"attribute must be one of {', '.join(BALANCE_ATTRIBUTES)}; "
                         f"received {attribute!r}")
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


# ------------------------------------------------------------- the plan training uses
def split_part(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split, index reset: the frame training builds its pipeline from
    (so a plan made here lines up row for row with the pipeline's rows)."""
    if split not in labels.SPLITS:
        raise ValueError(f"split must be one of {', '.join(labels.SPLITS)}; received {split!r}")
    return manifest[(manifest["split"].astype(object) == split).to_numpy()].reset_index(drop=True)


def training_plan(
    manifest: pd.DataFrame,
    *,
    balance: str = DEFAULTS.balance,
    target: Target = DEFAULTS.target,
    max_repeat: int = DEFAULTS.max_repeat,
    seed: int = DEFAULTS.seed,
) -> BalancePlan | None:
    """The plan ``train`` uses: :func:`plan_balance` over the train split of
    ``manifest``, or None when ``balance`` is ``none`` (or the split is empty), in
    which case an epoch is the train split as it is.

    The defaults are ``TrainConfig``'s, and ``modelkit.training.prepare_data`` calls
    this with the config's fields: the Dataset page and ``data summary`` show what
    this returns, so they show one epoch exactly.

    Raises:
        ValueError: ``balance`` is not one of ``modelkit.config.BALANCE_MODES``.
    """
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {', '.join(BALANCE_MODES)}; received {balance!r}")
    train = split_part(manifest, TRAIN_SPLIT)
    if balance == "none" or train.empty:
        return None
    return plan_balance(train, attribute=balance, target=target, max_repeat=max_repeat, seed=seed)


def epoch_counts(train: pd.DataFrame, plan: BalancePlan | None, attribute: str) -> pd.Series:
    """Images per value of ``attribute`` in one training epoch over ``train`` (the
    train split): the plan's repeats applied, or the split's own counts without one."""
    return counts(train, attribute) if plan is None else plan.counts_after(attribute)
