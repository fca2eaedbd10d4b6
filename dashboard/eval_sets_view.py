"""The Evaluate page's evaluation sets: which faces to evaluate on, and the "Predict on
another dataset" form that makes a new set as a background job.

An evaluation set (``modelkit.prediction``) is a run's predictions on another dataset,
kept in ``<run>/eval/<NAME>/`` with a predictions table like the run's own, so the rest
of the page evaluates the chosen folder exactly as it evaluates a run. The form queues
a ``predict`` job in the run registry (``modelkit.prediction.background``), like the Train page
queues a run; a live panel (``st.fragment(run_every=...)``) follows its progress, and
when it finishes the page picks the new set. Widget keys start with ``evaluate_set``
or ``evaluate_predict``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import streamlit as st

from dashboard import runs_view, signin
from dashboard.titles import SOURCE_TITLES
from modelkit import paths
from modelkit import runs as rk
from modelkit.config import SOURCES
from modelkit.outside.card import is_outside_model, read_card
from modelkit.prediction import PredictRequest, eval_dir, evalsets, list_eval_sets
from modelkit.prediction.background import prediction_jobs, start_prediction

OWN_SPLIT = ""           # the option value of the run's own split
REFRESH_S = 2
DEFAULT_SOURCE = "fairface"


def set_title(run_dir: Path, name: str) -> str:
    """How an option of the evaluation-set picker reads."""
    if name == OWN_SPLIT:
        return "the run's own split"
    info = evalsets.read_eval_info(eval_dir(run_dir, name))
    source = SOURCE_TITLES.get(info.get("source"), info.get("source") or "?")
    return f"{name} · {source} · {info.get('n_images', '?')} faces"


def evaluation_set_ui(run_dir: Path, compare_dir: Path | None) -> tuple[Path | None, Path | None]:
    """Sidebar: evaluate on the run's own split or on one of its evaluation sets; main
    area: the form that makes a new set. Returns the folders to evaluate (the chosen
    set of the run, and the compared run's set of the same name when it has one); an
    outside model has no split of its own, so without a set it returns (None, None)
    after saying so and offering the form."""
    outside = is_outside_model(run_dir)
    names = ([] if outside else [OWN_SPLIT]) + [s.name for s in list_eval_sets(run_dir)]
    if not names:
        card = read_card(run_dir)
        st.info(f"**{run_dir.name}** is an outside model ({card.format}; heads: "
                f"{', '.join(h.head for h in card.heads)}). It has no test split of its own: "
                "predict it on a dataset below, then evaluate it on that set.")
        predict_ui(run_dir, expanded=True)
        return None, None
    pending = st.session_state.pop("evaluate_set_pending", None)
    if pending in names:
        st.session_state["evaluate_set"] = pending  # a job just made it: show it
    elif st.session_state.get("evaluate_set") not in names:
        st.session_state["evaluate_set"] = OWN_SPLIT  # another run, without that set
    chosen = st.sidebar.selectbox("Evaluate on", names, key="evaluate_set",
                                  format_func=lambda n: set_title(run_dir, n),
                                  help="The run's own test split, or a prediction of its "
                                       "model on another dataset (made with the form below)")
    predict_ui(run_dir)
    if chosen == OWN_SPLIT:
        if compare_dir is not None and is_outside_model(compare_dir):
            st.warning(f"{compare_dir.name} is an outside model, without a split of its own; "
                       f"showing {run_dir.name} alone (pick an evaluation set both have to "
                       "compare them).")
            return run_dir, None
        return run_dir, compare_dir
    folder = eval_dir(run_dir, chosen)
    st.caption(f"Evaluating on {evalsets.describe(folder)}.")
    if compare_dir is None:
        return folder, None
    other = eval_dir(compare_dir, chosen)
    if other.is_dir() and any(s.name == chosen for s in list_eval_sets(compare_dir)):
        return folder, other
    st.warning(f"{compare_dir.name} has no evaluation set {chosen!r}; showing "
               f"{run_dir.name} alone (predict with that run too to compare them on it).")
    return folder, None


# ----------------------------------------------------------------------------- the form
def path_error(*, source: str, root: str, labels_file: str) -> str | None:
    """Why the typed dataset paths cannot be used, or None. Like the Train page, the
    dashboard reads only what ``modelkit.paths.check_data_path`` accepts."""
    if not root and not labels_file and source != "synthetic":
        return f"The {source} source needs a dataset folder (or a labels file)."
    for what, value, exists in (("Dataset folder", root, os.path.isdir),
                                ("Labels file", labels_file, os.path.isfile)):
        if not value:
            continue
        try:
            paths.check_data_path(value)
        except ValueError as exc:
            return (f"{what} {exc} Or predict from the command line "
                    "(`python -m modelkit predict --run-dir ... --source ... --root ...`).")
        if not exists(os.path.expanduser(value)):
            return f"{what} {value!r} does not exist."
    return None


def predict_ui(run_dir: Path, *, expanded: bool = False) -> None:
    """The "Predict on another dataset" form, and the run's prediction jobs."""
    watched = st.session_state.get("evaluate_predict_job")
    live = [j for j in prediction_jobs(run_dir) if j.state == "queued" or j.is_active]
    if not signin.can("job.start"):
        return
    with st.expander("Predict on another dataset", expanded=expanded or bool(live or watched)):
        with st.form("evaluate_predict_form"):
            left, right = st.columns(2)
            source = left.selectbox("Dataset", SOURCES, index=SOURCES.index(DEFAULT_SOURCE),
                                    format_func=SOURCE_TITLES.get, key="evaluate_predict_source")
            root = right.text_input("Dataset folder", key="evaluate_predict_root",
                                    help="Must lie under: " + ", ".join(map(str, paths.data_roots())))
            labels_file = left.text_input("Labels file (optional)", key="evaluate_predict_labels")
            limit = right.number_input("Use at most N images (0 = all)", min_value=0, value=0,
                                       step=100, key="evaluate_predict_limit")
            name = left.text_input("Name of the evaluation set", key="evaluate_predict_name",
                                   placeholder="the dataset's name",
                                   help="A set of the same name is replaced")
            align = right.checkbox("Detect and align faces first", key="evaluate_predict_align",
                                   help="For loosely cropped sets (FairFace's crops carry "
                                        "padding): each image becomes its face's aligned crop")
            submitted = st.form_submit_button("Predict", type="primary")
        if submitted:
            _submit(run_dir, source=source, root=root.strip(), labels_file=labels_file.strip(),
                    limit=int(limit) or None, name=name.strip() or None, align=align)
            watched = st.session_state.get("evaluate_predict_job")
        if live or watched:
            live_jobs = st.fragment(run_every=REFRESH_S)(jobs_panel)
            live_jobs(run_dir)


def _submit(run_dir: Path, *, source: str, root: str, labels_file: str, limit: int | None,
            name: str | None, align: bool) -> None:
    error = path_error(source=source, root=root, labels_file=labels_file)
    if error:
        st.error(error)
        return
    token = st.session_state.setdefault("evaluate_predict_token", secrets.token_hex(8))
    try:
        request = PredictRequest(run_dir=str(run_dir), source=source, root=root or None,
                                 labels=labels_file or None, limit=limit, name=name,
                                 align=align)
        job = start_prediction(request, idempotency_key=token, actor=signin.current_actor())
    except (ValueError, OSError) as exc:  # OSError: FileNotFoundError, AccessDenied
        st.error(str(exc))
        return
    st.session_state.pop("evaluate_predict_token", None)  # the next submit is a new job
    st.session_state["evaluate_predict_job"] = job.id


def jobs_panel(run_dir: Path) -> None:
    """The run's active prediction jobs and the one last started, with progress; when
    the watched one finishes, the page reruns on its new evaluation set."""
    runs_view.reconcile_due()  # a job whose process died is marked failed
    watched = st.session_state.get("evaluate_predict_job")
    shown = [j for j in prediction_jobs(run_dir)
             if j.id == watched or j.state == "queued" or j.is_active]
    for job in shown:
        name = job.config.get("name") or evalsets.default_name(job.config.get("source", ""),
                                                               align=bool(job.config.get("align")))
        where = rk.progress(job)
        title = f"{runs_view.STATE_ICONS.get(job.state, '')} Predicting {name} ({job.id}): {job.state}"
        if job.state == "queued":
            st.progress(0.0, text=f"{title} · #{job.queue_position} in the queue (starts when "
                                  "the running job or training run ends)")
        elif job.is_active:
            text = f"{title} · {where['fraction']:.0%}"
            if where["eta_s"] is not None:
                text += f" · ETA {runs_view.format_duration(where['eta_s'])}"
            st.progress(where["fraction"], text=text)
        elif job.state == "failed":
            st.error(f"{title}: {job.error or 'see its train.log'}")
        elif job.state == "finished":
            st.success(f"{title}: the evaluation set {name!r} is ready.")
        else:
            st.info(title)
        if job.id == watched and job.state == "finished":  # a failed one stays shown
            st.session_state.pop("evaluate_predict_job", None)
            st.session_state["evaluate_set_pending"] = name
            st.rerun(scope="app")
