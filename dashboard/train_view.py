"""The Train page's form and device note; the live run panel is in run_panel_view.

The form's choices and defaults are ``modelkit.config``'s (``SOURCES``, ``BACKBONES``,
``BALANCE_MODES``, ``IMAGE_SIZES`` and ``TrainConfig``'s defaults, the same as
``python -m modelkit train``), and what it returns is a checked ``TrainConfig``: the
launcher hands it to the run as its ``config.json``. Training itself happens in a
separate process started by ``modelkit.runs``, so closing the tab loses nothing.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import streamlit as st

from dashboard import corrections_view, estimate_view, experiments_view, signin
from dashboard.titles import BALANCE_TITLES, HEAD_TITLES, SOURCE_TITLES
from modelkit import labels, paths
from modelkit import runs as rk
from modelkit.config import BACKBONES, BALANCE_MODES, DEFAULTS, IMAGE_SIZES, PRECISIONS, SOURCES, TrainConfig

NEEDS_ROOT = {"utkface": "the UTKFace image folder", "fairface": "the FairFace folder (with "
              "fairface_label_*.csv)", "imdbwiki": "the IMDB-WIKI folder (with imdb.mat or "
              "wiki.mat)", "csv": "the folder the CSV's image paths are relative to"}


# ----------------------------------------------------------------------------- form
def path_error(*, source: str, root: str, labels_file: str) -> str | None:
    """Why the dataset paths typed in the form cannot be used, or None when they can.

    The dashboard may only read what ``modelkit.paths.check_data_path`` accepts (the
    server's files are not the browser user's to browse); the CLI has no such limit.
    """
    if source == "synthetic":
        return None
    if source in NEEDS_ROOT and not root and not (source == "csv" and labels_file):
        return f"The {source} source needs a dataset folder: {NEEDS_ROOT[source]}."
    if source == "csv" and not labels_file:
        return "The csv source needs a labels CSV (columns path, age, gender, race[, split])."
    for what, value in (("Dataset folder", root), ("Labels CSV", labels_file)):
        if not value:
            continue
        try:
            paths.check_data_path(value)
        except ValueError as exc:
            return (f"{what} {exc} Or train from the command line "
                    "(`python -m modelkit train ... --background`).")
    for what, value, is_ok in (("Dataset folder", root, os.path.isdir),
                               ("Labels CSV", labels_file, os.path.isfile)):
        if value and not is_ok(os.path.expanduser(value)):
            return f"{what} {value!r} does not exist."
    return None


def _dataset_ui(column) -> dict:
    """Dataset widgets: source, folder, labels file, image limit, corrections, align."""
    source = column.selectbox("Dataset", SOURCES, index=SOURCES.index(DEFAULTS.source),
                              format_func=SOURCE_TITLES.get, key="train_source")
    root = column.text_input("Dataset folder", key="train_root",
                             help="Not needed for synthetic. Must lie under: "
                                  + ", ".join(map(str, paths.data_roots())))
    labels_file = column.text_input("Labels CSV (csv source)", key="train_labels")
    limit = column.number_input("Use at most N images (0 = all)", min_value=0,
                                value=DEFAULTS.limit or 0, step=100, key="train_limit")
    return {"source": source, "root": root.strip(), "labels": labels_file.strip(),
            "limit": int(limit) or None, "use_corrections": corrections_view.checkbox_ui(column),
            "align": column.checkbox("Detect and align faces", value=DEFAULTS.align, key="train_align",
                                     help="For loosely cropped sets (FairFace): each image's face "
                                          "is found, levelled and cropped as UTKFace's; images "
                                          "without a usable face are skipped.")}


def _model_ui(column) -> dict:
    """Model and optimiser widgets: backbone, image size, epochs, batch size, lr, EMA,
    precision."""
    return {
        "backbone": column.selectbox("Backbone", BACKBONES,
                                     index=BACKBONES.index(DEFAULTS.backbone), key="train_backbone"),
        "image_size": int(column.select_slider("Image size (px)", IMAGE_SIZES,
                                               value=DEFAULTS.image_size, key="train_image_size")),
        "epochs": int(column.number_input("Epochs", min_value=1, max_value=500,
                                          value=DEFAULTS.epochs, key="train_epochs")),
        "batch_size": int(column.number_input("Batch size", min_value=1, max_value=1024,
                                              value=DEFAULTS.batch_size, key="train_batch_size")),
        "lr": float(column.number_input("Learning rate", min_value=1e-6, max_value=1.0,
                                        value=DEFAULTS.lr, format="%.0e", step=1e-4,
                                        key="train_lr")),
        "ema": column.checkbox("Average the weights (EMA)", value=DEFAULTS.ema, key="train_ema",
                               help="keep a moving average of the weights over the last "
                                    "~100 steps and save it: the last step's weights alone "
                                    "swing by years of age error from epoch to epoch"),
        "precision": column.selectbox("Precision", PRECISIONS,
                                      index=PRECISIONS.index(DEFAULTS.precision),
                                      key="train_precision",
                                      help="auto: bfloat16 where the CPU (AMX, AVX512-BF16) or "
                                           "GPU (compute capability 8.0+) has units for it, "
                                           "float16 on an older GPU, float32 otherwise. The "
                                           "saved model is float32 either way."),
        **_transfer_ui(column),
    }


def _transfer_ui(column) -> dict:
    """The transfer recipe's two settings: used with a pretrained backbone (dlib_resnet)."""
    first, second = column.columns(2)
    return {
        "freeze_epochs": int(first.number_input(
            "Frozen epochs", min_value=0, max_value=500, value=DEFAULTS.freeze_epochs,
            key="train_freeze_epochs", help="pretrained backbones (dlib_resnet): the first N "
                                            "epochs train only the heads")),
        "backbone_lr_scale": float(second.number_input(
            "Backbone learning-rate scale", min_value=0.001, max_value=1.0,
            value=DEFAULTS.backbone_lr_scale, step=0.05, format="%.3f",
            key="train_backbone_lr_scale", help="pretrained backbones: the backbone learns at "
                                                "this share of the learning rate")),
    }


def _plan_ui() -> dict:
    """The balance plan (the Dataset page previews it) and the per-head loss weights."""
    st.markdown("**Balance plan** (oversampling with augmentation) and **loss weights**")
    plan = st.columns(3)
    values = {
        "balance": plan[0].selectbox("Balance", BALANCE_MODES,
                                     index=BALANCE_MODES.index(DEFAULTS.balance),
                                     format_func=BALANCE_TITLES.get, key="train_balance"),
        "target": plan[1].text_input("Target per group", value=str(DEFAULTS.target),
                                     key="train_target", help="max, median or a number of images"),
        "max_repeat": int(plan[2].number_input("Max repeat", min_value=1, max_value=100,
                                               value=DEFAULTS.max_repeat, key="train_max_repeat",
                                               help="no image is used more often per epoch")),
    }
    weights = st.columns(len(labels.HEADS))
    values["loss_weights"] = {
        head: float(weights[i].number_input(f"{HEAD_TITLES[head]} loss weight", min_value=0.0,
                                            value=DEFAULTS.loss_weights[head], step=0.1,
                                            key=f"train_weight_{head}"))
        for i, head in enumerate(labels.HEADS)}
    return values


def train_form_ui() -> TrainConfig | None:
    """The run form. Returns the checked config when Start is pressed and valid, else
    None (with the reason shown as an error). "Estimate time" shows the run's expected
    wall time instead (``estimate_view``) and starts nothing."""
    with st.form("train_form"):
        data, model = st.columns(2)
        dataset = _dataset_ui(data)
        values = {**dataset, **_model_ui(model), **_plan_ui()}
        experiments_view.control_form_ui()  # "Also train a control run" (read after submit)
        start_col, estimate_col = st.columns([1, 4])
        submitted = start_col.form_submit_button("Start training", type="primary", key="train_start")
        estimate = estimate_col.form_submit_button(
            "Estimate time", key="train_estimate",
            help="from the speed earlier finished runs like this one measured; starts nothing")
    if not (submitted or estimate):
        return None
    error = path_error(source=dataset["source"], root=dataset["root"],
                       labels_file=dataset["labels"])
    if error:
        st.error(error)
        return None
    synthetic = dataset["source"] == "synthetic"
    values["root"] = os.path.expanduser(dataset["root"]) if dataset["root"] and not synthetic else None
    values["labels"] = os.path.expanduser(dataset["labels"]) if dataset["labels"] else None
    values["corrections"] = corrections_view.chosen_file(
        values.pop("use_corrections"), source=values["source"], root=values["root"],
        labels_file=values["labels"])
    try:
        config = TrainConfig(**values)
    except ValueError as exc:
        st.error(f"Cannot train with these settings: {exc}")
        return None
    if estimate:
        estimate_view.estimate_ui(config)
        return None
    return config


def start(config: TrainConfig) -> rk.RunInfo | None:
    """Submit ``config`` (returns at once) and remember the run as the one to watch.

    A double click submits the same config twice within a second; the launcher returns
    the first run for the second submit (see ``modelkit.runs.start_run``).
    """
    try:
        run = rk.start_run(config, actor=signin.current_actor())
    except (ValueError, PermissionError) as exc:
        st.error(f"Could not start the run: {exc}")
        return None
    st.session_state["train_watch"] = run.id  # the picker shows it
    return run


# ----------------------------------------------------------------------------- device
@st.cache_resource(show_spinner=False)
def _devices(use_tensorflow: bool) -> dict:
    return rk.detect_devices(use_tensorflow=use_tensorflow)


@st.cache_resource(show_spinner=False)
def _auto_precision(kind: str) -> dict:
    return rk.auto_precision(kind)


def device_ui() -> None:
    """Which device training will use; the exact check (TensorFlow) on demand."""
    exact = st.session_state.get("train_device_exact", False)
    with st.spinner("Asking TensorFlow which devices it sees...") if exact else nullcontext():
        info = _devices(exact)
    name = ", ".join(info["names"]) if info["names"] else info["kind"]
    st.sidebar.markdown(f"**Training device:** {name}")
    st.sidebar.caption(info["note"])
    precision = _auto_precision(info["kind"])
    st.sidebar.markdown(f"**Precision (auto):** {precision['name']}",
                        help=f"{precision['reason']}. {precision['exceptions']} "
                             "The form's Precision overrides it.")
    if not exact and st.sidebar.button("Check with TensorFlow", key="train_device_check"):
        st.session_state["train_device_exact"] = True
        st.rerun()
