"""The Explain page for an outside model: occlusion maps, the method a model without
gradients allows (``modelkit.saliency.occlusion``).

An ONNX graph, a TFLite file or an adapter gives only its outputs, so Grad-CAM and the
gradient methods are not offered; a grey square slid over the face shows where
covering it changes the model's answer. The faces come from the model's evaluation
sets (it has no split of its own), decoded at the card's input size by the one
decoder. A predictions file explains nothing: it answers only for the faces it lists.
Widget keys start with ``explain_outside``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import loaders
from dashboard.titles import HEAD_TITLES
from modelkit import labels
from modelkit.data import decode
from modelkit.outside.card import read_card
from modelkit.prediction.evalsets import list_eval_sets
from modelkit.runfolder import PREDICTIONS_FILE

SHOWN_FACES = 60


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def predictor(folder: str, mtime: float):
    """The outside model, loaded once per card change and shared by the sessions."""
    from modelkit.prediction.predictors import load_predictor

    return load_predictor(folder)


@st.cache_data(show_spinner="Sliding the occluding square over the face...", max_entries=32)
def occlusion(folder: str, mtime: float, path: str, head: str, class_name: str | None):
    """(display image, map at the display size, what it explains) of one file."""
    from modelkit.saliency import overlay
    from modelkit.saliency.explain import resize_maps
    from modelkit.saliency.occlusion import explain_any

    model = predictor(folder, mtime)
    face = decode.decode_file(path, image_size=model.image_size[0])
    heat, explained = explain_any(model, face, head=head, class_name=class_name)
    image = decode.decode_file(path)
    big = resize_maps(heat[None], *image.shape[:2])[0]
    return overlay(image, big, alpha=0.45), explained


def outside_ui(folder: Path) -> None:
    """The section for an outside model: a face of one of its sets, a head, its map."""
    card = read_card(folder)
    mtime = loaders.file_mtime(folder / "card.json") or 0.0
    if card.format == "predictions":
        st.info(f"{folder.name} is a predictions file: it answers only for the faces it "
                "lists, so there is no model to explain.")
        return
    sets = list_eval_sets(folder)
    if not sets:
        st.info(f"{folder.name} is an outside model with no evaluation set yet: predict it on a "
                "dataset on the Evaluate page, then explain its faces here.")
        return
    st.caption(f"{folder.name} ({card.format}) gives no gradients: its maps are **occlusion** "
               "maps (Zeiler & Fergus 2014). A grey square slides over the face; bright is "
               "where covering the face changes the answer most.")
    left, right = st.columns(2)
    chosen = left.selectbox("Evaluation set", [s.name for s in sets], key="explain_outside_set")
    heads = [h.head for h in card.heads]
    head = right.selectbox("Head", heads, key="explain_outside_head", format_func=HEAD_TITLES.get)
    rows = loaders.predictions(str(folder / "eval" / chosen),
                               loaders.file_mtime(folder / "eval" / chosen / PREDICTIONS_FILE))
    rows = rows.head(SHOWN_FACES)
    path = st.selectbox("Face", list(rows["path"]), key="explain_outside_face",
                        format_func=lambda p: _label(rows.set_index("path").loc[p], Path(p).name))
    classes = _classes(card, head)
    class_name = st.selectbox("Explain the class", [None, *classes], key="explain_outside_class",
                              format_func=lambda c: "the predicted one" if c is None else c)
    try:
        picture, explained = occlusion(str(folder), mtime, path, head, class_name)
    except (ValueError, OSError) as exc:
        st.error(str(exc))
        return
    st.image(picture, width=320, caption=f"{HEAD_TITLES[head]} · occlusion, explaining {explained}")


def _classes(card, head: str) -> list[str]:
    if head == "gender":
        return list(labels.GENDERS)
    if head == "age":
        return list(labels.AGE_GROUPS)
    return list(next(h.classes for h in card.heads if h.head == "race"))


def _label(row, name: str) -> str:
    truth = ", ".join(str(row[c]) for c in ("gender_true", "race_true", "age_group_true")
                      if isinstance(row[c], str))
    return f"{name} ({truth})" if truth else name

