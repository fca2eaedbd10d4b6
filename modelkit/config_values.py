"""Reading train-setting values given as text or loose JSON: the balance target, the
per-head loss weights, and a config file's keys (a typo is named, not dropped). The CLI,
the remedy experiments and ``TrainConfig`` share them; ``modelkit.config`` re-exports them.
"""

from __future__ import annotations

import difflib

from modelkit.labels import HEADS

# A balance target is one of these words or a positive count of images per group.
TARGET_WORDS: tuple[str, ...] = ("max", "median")

def check_keys(values: dict, *, allowed, what: str = "train setting") -> None:
    """Refuse a key that is not ``allowed``, naming it and the nearest allowed one (a
    typo in a config file must not be dropped silently).

    Raises:
        ValueError: e.g. ``unknown train setting 'epocs' (did you mean 'epochs'?)``.
    """
    allowed = list(allowed)
    for key in sorted(set(values) - set(allowed)):
        near = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"expected one of {', '.join(sorted(allowed))}"
        raise ValueError(f"unknown {what} {key!r} ({hint})")


def parse_target(value: str | int) -> str | int:
    """A balance target: ``max``, ``median`` or a positive count (``"1200"`` -> 1200).

    Raises:
        ValueError: naming what came and what is allowed.
    """
    text = str(value).strip().lower()
    if text in TARGET_WORDS:
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"balance target must be max, median or a positive count; got {value!r}")


def parse_loss_weights(value: str | dict) -> dict[str, float]:
    """``"gender=1,race=0.5"`` (or a dict) -> a weight per head; heads left out keep 1."""
    items = value.items() if isinstance(value, dict) else (
        item.partition("=")[::2] for item in filter(None, str(value).split(",")))
    weights = {head: 1.0 for head in HEADS}
    for head, number in items:
        head = str(head).strip()
        if head not in HEADS:
            raise ValueError(f"loss weights name unknown head {head!r}; heads are {', '.join(HEADS)}")
        try:
            weights[head] = float(number)
        except (TypeError, ValueError):
            raise ValueError(f"loss weight for {head!r} must be a number, got {number!r} "
                             "(e.g. gender=1,race=1,age=0.5)") from None
        if weights[head] < 0:
            raise ValueError(f"loss weight for {head!r} must be >= 0, got {number!r}")
    return weights
