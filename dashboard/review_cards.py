"""The Review page's cards: one suspect label each, with the buttons that decide it.

A card shows the face at ``IMAGE_SIDE`` pixels (enough to judge an age), the given
label, the suggested one with the out-of-sample confidence, and *Keep*, *Use
suggestion*, *Set…* (a picker from the vocabulary) and *Exclude*. A click appends the
decision to the dataset's corrections file in the button's callback, so it is saved
before the rerun draws the card again, now showing the decision and *Undo*.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import loaders, signin
from dashboard.titles import ATTRIBUTE_TITLES
from modelkit import labels
from modelkit.curation import corrections as cx

IMAGE_SIDE = 200
PER_ROW = 4
ERROR_KEY = "review_error"
TITLES = {**ATTRIBUTE_TITLES, "age": "Age"}


@dataclass(frozen=True)
class Target:
    """Where decisions go and what they are checked against."""

    file: Path
    race_classes: tuple[str, ...]


def card_key(row_id: str) -> str:
    return hashlib.sha1(row_id.encode()).hexdigest()[:12]


def describe(decision: dict, *, given: str) -> str:
    """A standing decision in words."""
    if decision["action"] == "keep":
        return f"Kept: {given} is right"
    if decision["action"] == "exclude":
        return "Excluded from training"
    value = decision["value"]
    return f"Set to {value:g}" if isinstance(value, float) else f"Set to {value}"


def decide(target: Target, row_id: str, action: str, value=None, given=None,
           picker: str | None = None) -> None:
    """A button's callback: append the decision (``picker``: read the value from that
    widget); a refused value is shown above the gallery instead."""
    path, attribute = row_id.split("\x00")
    if picker is not None:
        value = st.session_state.get(picker)
    try:
        cx.record_decision(target.file, path=path, attribute=attribute, action=action,
                           value=value, given=given, race_classes=target.race_classes,
                           actor=signin.current_actor())
    except (ValueError, PermissionError) as exc:
        st.session_state[ERROR_KEY] = str(exc)


def gallery_ui(rows: pd.DataFrame, *, decided: dict[str, dict], target: Target) -> None:
    """The cards of ``rows`` (one page), ``PER_ROW`` to a row."""
    if ERROR_KEY in st.session_state:
        st.error(st.session_state.pop(ERROR_KEY))
    if rows.empty:
        st.info("No suspect matches these filters.")
        return
    records = list(rows.itertuples(index=False))
    for start in range(0, len(records), PER_ROW):
        for column, row in zip(st.columns(PER_ROW), records[start:start + PER_ROW], strict=False):
            with column, st.container(border=True):
                card_ui(row, decided.get(row.id), target=target)


def _given(row):
    return float(row.given) if row.attribute == "age" else row.given


def card_ui(row, decision: dict | None, *, target: Target) -> None:
    """One card: the face, the labels, the decision or the buttons."""
    key = card_key(row.id)
    image = loaders.thumbnail(row.path, size=IMAGE_SIDE)
    if image is None:
        st.caption(f"image not found: {row.path}")
    else:
        st.image(image, width=IMAGE_SIDE)
    title = TITLES.get(row.attribute, row.attribute)
    confidence = "" if pd.isna(row.confidence) else f" ({row.confidence:.0%} sure)"
    st.markdown(f"**{title}** · given **{row.given}** · suggested **{row.suggested}**{confidence}")
    st.caption(f"#{row.rank} · score {row.score:.3f}{' · flagged' if row.is_issue else ''} · "
               f"{row.split} · {Path(row.path).name}")
    if not signin.can("label.decide"):  # a viewer or trainer reads the card only
        if decision is not None:
            st.success(describe(decision, given=row.given), icon=":material/check:")
        return
    if decision is not None:
        st.success(describe(decision, given=row.given), icon=":material/check:")
        st.button("Undo", key=f"review_undo_{key}", on_click=decide,
                  args=(target, row.id, "undo"), width="stretch")
        return
    given = _given(row)
    st.button("Use suggestion", key=f"review_fix_{key}", on_click=decide, width="stretch",
              args=(target, row.id, "set", row.suggested), kwargs={"given": given},
              disabled=row.suggested == row.given, type="primary")
    left, right = st.columns(2)
    left.button("Keep", key=f"review_keep_{key}", on_click=decide, width="stretch",
                args=(target, row.id, "keep"), kwargs={"given": given})
    right.button("Exclude", key=f"review_exclude_{key}", on_click=decide, width="stretch",
                 args=(target, row.id, "exclude"), kwargs={"given": given})
    with st.popover("Set…", width="stretch"):
        picker = f"review_pick_{key}"
        _picker_ui(row, picker, target=target)
        st.button("Save", key=f"review_set_{key}", on_click=decide, type="primary",
                  args=(target, row.id, "set"), kwargs={"given": given, "picker": picker})


def _picker_ui(row, key: str, *, target: Target) -> None:
    """The vocabulary of the row's attribute (years for age), at the suggestion."""
    if row.attribute == "age":
        st.number_input("Age (years)", min_value=0, max_value=labels.MAX_AGE, step=1,
                        value=int(float(row.suggested)), key=key)
        return
    options = {"gender": labels.GENDERS, "race": target.race_classes,
               "age_group": labels.AGE_GROUPS}[row.attribute]
    options = list(options)
    index = options.index(row.suggested) if row.suggested in options else 0
    st.selectbox(TITLES[row.attribute], options, index=index, key=key)
