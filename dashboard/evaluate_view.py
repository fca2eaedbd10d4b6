"""The Evaluate page's widgets: run, split and group pickers, and one ``*_ui()`` per
section (overall, confusion matrices, by group, age error, worst groups, worst errors).

The numbers come from ``modelkit.evaluate`` through the cached ``dashboard.loaders``
(keyed by run folder, predictions mtime and the filter, so a retrained run is picked
up and a rerun with the same inputs costs nothing); the charts from
``dashboard.evaluate_figures``. Widget keys start with ``evaluate_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import loaders
from dashboard.evaluate_figures import (
    confusion_figure,
    grouping_title,
    head_title,
    mae_by_age_figure,
    metric_by_group_figure,
    metric_title,
)
from dashboard.titles import ATTRIBUTE_TITLES
from modelkit import evaluate as ev
from modelkit.outside.card import is_outside_model
from modelkit.prediction.evalsets import display_name, owning_run

NO_FILTER = "all faces"
NO_COMPARE = "(none)"
OVERALL_METRICS = ("gender_accuracy", "race_accuracy", "age_group_accuracy", "age_mae")
GALLERY_SIZE = 12


@dataclass(frozen=True)
class EvaluatedRun:
    """One run shown on the page: its name, folder, predictions mtime (the cache key)
    and its evaluation of the chosen split."""

    name: str
    run_dir: Path
    mtime: float
    evaluation: ev.Evaluation


def where_title(where: dict[str, str]) -> str:
    """``{"race": "Black"}`` -> ``race = Black``; all faces when empty."""
    return ", ".join(f"{ATTRIBUTE_TITLES[a].lower()} = {v}" for a, v in where.items()) or NO_FILTER


# ----------------------------------------------------------------------------- sidebar

def run_picker_ui(runs: list[Path]) -> tuple[Path, Path | None]:
    """Sidebar: the run to evaluate and, optionally, one to compare it with."""
    names = [p.name for p in runs]
    outside = {p.name for p in runs if is_outside_model(p)}
    chosen = st.sidebar.selectbox("Run", names, key="evaluate_run",
                                  format_func=lambda n: f"{n} · outside model" if n in outside else n,
                                  help="Runs under the runs root that have predictions, and "
                                       "outside models (`python -m modelkit models add`)")
    others = [NO_COMPARE] + [n for n in names if n != chosen]
    compare = st.sidebar.selectbox("Compare with", others, key="evaluate_compare")
    by_name = dict(zip(names, runs, strict=True))
    return by_name[chosen], (by_name[compare] if compare != NO_COMPARE else None)


def evaluation_splits(predictions: pd.DataFrame) -> list[str]:
    """The splits worth evaluating (not train), test first."""
    splits = [s for s in ev.available_splits(predictions) if s != "train"]
    return sorted(splits, key=lambda s: s != "test")


def split_ui(splits: list[str]) -> str:
    """Sidebar: the evaluation split."""
    return st.sidebar.radio("Split", splits, key="evaluate_split", horizontal=True)


def group_filter_ui(predictions: pd.DataFrame) -> dict[str, str]:
    """Sidebar: restrict matrices, age chart and gallery to one group (true label)."""
    attribute = st.sidebar.selectbox(
        "Only faces labelled", [NO_FILTER, *ev.GROUP_ATTRIBUTES], key="evaluate_filter_attr",
        format_func=lambda a: ATTRIBUTE_TITLES.get(a, a))
    if attribute == NO_FILTER:
        return {}
    present = set(predictions[f"{attribute}_true"].dropna().unique())
    values = [v for v in ev.class_labels(predictions, attribute) if v in present]
    if not values:
        st.sidebar.caption(f"No face has a {attribute} label.")
        return {}
    return {attribute: st.sidebar.selectbox("Group", values, key="evaluate_filter_value")}


def evaluated_runs_ui(run_dir: Path, compare_dir: Path | None, *, split: str) -> list[EvaluatedRun]:
    """The chosen run's evaluation, and the compared run's when it has ``split`` (a
    warning says so when it has not)."""
    shown = [_evaluated(run_dir, split)]
    if compare_dir is not None:
        mtime = loaders.predictions_mtime(compare_dir)
        if split in ev.available_splits(loaders.predictions(str(compare_dir), mtime)):
            shown.append(_evaluated(compare_dir, split))
        else:
            st.warning(f"{compare_dir.name} has no {split} predictions; showing {run_dir.name} alone.")
    return shown


def _evaluated(run_dir: Path, split: str) -> EvaluatedRun:
    mtime = loaders.predictions_mtime(run_dir)
    return EvaluatedRun(display_name(run_dir), run_dir, mtime, loaders.evaluation(str(run_dir), mtime, split))


# ----------------------------------------------------------------------------- sections

def overall_ui(shown: list[EvaluatedRun], *, split: str) -> None:
    """One row of headline figures per run (the heads some shown run has figures for)."""
    heads = shown_heads(shown)
    metrics = [m for m in OVERALL_METRICS if m.rsplit("_", 1)[0] in heads]
    for run in shown:
        evaluation = run.evaluation
        st.subheader(f"{run.name} · {split} · {evaluation.n} faces")
        for cell, metric in zip(st.columns(max(len(metrics), 1)), metrics, strict=False):
            value = evaluation.overall_value(metric)
            is_age = metric == "age_mae"
            label = metric_title(metric) + (" (vs range midpoint)" if is_age
                                            and evaluation.age_mae_vs_midpoint else "")
            shown_value = "n/a" if pd.isna(value) else f"{value:.2f} y" if is_age else f"{value:.1%}"
            cell.metric(label, shown_value)


def shown_heads(shown: list[EvaluatedRun]) -> list[str]:
    """The heads any shown run has figures for (an outside model may have one only)."""
    present = {h for run in shown for h in run.evaluation.heads}
    return [h for h in ev.EVAL_HEADS if h in present]


def confusion_ui(shown: list[EvaluatedRun], *, split: str, where: dict[str, str],
                 normalize: bool) -> None:
    """One tab per class head, the runs' matrices side by side."""
    faces = where_title(where)
    heads = [h for h in ev.CLASS_HEADS if h in shown_heads(shown)]
    if not heads:
        st.info("No class head to show: the model predicts age only.")
        return
    st.caption(f"Rows: true label; columns: predicted. Faces: {faces}.")
    for head, tab in zip(heads, st.tabs([head_title(h) for h in heads]), strict=True):
        with tab:
            for column, run in zip(st.columns(len(shown)), shown, strict=True):
                matrix = loaders.confusion(str(run.run_dir), run.mtime, split, head,
                                           normalize=normalize, where=where)
                with column:
                    if matrix.n == 0:
                        st.info(f"No face with a {head} label among {faces} in {run.name}.")
                        continue
                    title = f"{head_title(head)} · {run.name} · {faces} (n={matrix.n})"
                    st.plotly_chart(confusion_figure(matrix, title=title),
                                    key=f"evaluate_confusion_{head}_{run.name}")


def by_group_ui(shown: list[EvaluatedRun]) -> tuple[str, int]:
    """Pick a grouping and a figure; bars per group for every run. Returns the chosen
    metric and the small-group threshold (the gaps' minimum n)."""
    main = shown[0].evaluation
    left, right = st.columns(2)
    groupings = list(dict.fromkeys(main.by_group["grouping"]))
    grouping = left.selectbox("Group by", groupings, key="evaluate_grouping",
                              format_func=grouping_title)
    rows = main.by_group[main.by_group["grouping"] == grouping]
    metric = right.selectbox("Figure", list(dict.fromkeys(rows["metric"])), key="evaluate_metric",
                             format_func=metric_title)
    small_n = int(main.settings.get("gap_min_n", 5))
    series = {run.name: run.evaluation.by_group[(run.evaluation.by_group["grouping"] == grouping)
                                                & (run.evaluation.by_group["metric"] == metric)]
              for run in shown}
    overall = {run.name: run.evaluation.overall_value(metric) for run in shown}
    st.plotly_chart(metric_by_group_figure(series, metric=metric, overall=overall, small_n=small_n),
                    key="evaluate_by_group")
    if metric in ev.LOWER_IS_BETTER and main.age_mae_vs_midpoint:
        st.caption("Age errors are measured against the midpoint of each true age range "
                   "(the source gives ranges, not years).")
    st.caption(f"Bars: {int(100 * main.settings['ci'])}% bootstrap interval "
               f"({main.settings['n_boot']} resamples); faded bars have fewer than {small_n} "
               "labelled faces. Dashed: overall.")
    return metric, small_n


def age_error_ui(shown: list[EvaluatedRun], *, split: str, where: dict[str, str]) -> None:
    """Age MAE against true age, one line per run."""
    if ev.AGE_HEAD not in shown_heads(shown):
        st.info("No age figures: the model has no age head, or the faces no age labels.")
        return
    ages = {run.name: loaders.mae_by_true_age(str(run.run_dir), run.mtime, split, where=where)
            for run in shown}
    if all(table.empty for table in ages.values()):
        st.info(f"No face with a known age among {where_title(where)}.")
        return
    st.plotly_chart(mae_by_age_figure(ages, vs_midpoint=shown[0].evaluation.age_mae_vs_midpoint),
                    key="evaluate_age")


def worst_groups_table(evaluation: ev.Evaluation, *, metric: str, min_n: int, k: int = 15) -> pd.DataFrame:
    """The ranked worst-groups table, in display form."""
    table = evaluation.worst_groups(metric, min_n=min_n, k=k)
    table["grouping"] = table["grouping"].map(grouping_title)
    return table.drop(columns="metric").rename(columns={
        "grouping": "by", "ci_low": "CI low", "ci_high": "CI high", "shortfall": "worse than overall by"})


def worst_groups_ui(run: EvaluatedRun, *, metric: str, small_n: int) -> None:
    """The groups furthest below overall on ``metric``, above a size the user picks."""
    min_n = st.slider("Only groups with at least n labelled faces", 1, 100, small_n,
                      key="evaluate_min_n")
    st.caption(f"{metric_title(metric)}, {run.name}, worst first.")
    st.dataframe(worst_groups_table(run.evaluation, metric=metric, min_n=min_n),
                 hide_index=True, width="stretch")


def worst_errors_ui(run: EvaluatedRun, *, split: str, where: dict[str, str]) -> None:
    """Pick a head; the gallery of its worst errors among the filtered faces."""
    heads = run.evaluation.heads or list(ev.EVAL_HEADS)
    if st.session_state.get("evaluate_gallery_head") not in heads:  # another model's head
        st.session_state.pop("evaluate_gallery_head", None)
    head = st.selectbox("Head", heads, key="evaluate_gallery_head", format_func=head_title)
    errors = loaders.worst_errors(str(run.run_dir), run.mtime, split, head, where=where,
                                  k=GALLERY_SIZE)
    st.caption(f"{where_title(where)}: " + ("largest age errors." if head == ev.AGE_HEAD else
                                             "wrong predictions, most confident first."))
    if errors.empty:
        st.info("No errors here.")
    else:
        error_gallery_ui(errors, run_dir=run.run_dir, head=head)


def error_gallery_ui(errors: pd.DataFrame, *, run_dir: Path, head: str, per_row: int = 6) -> None:
    """Thumbnails of the worst errors, true vs predicted and confidence, each with a
    button that opens the Explain page on that image (a run's model: the Explain page
    explains Keras models)."""
    explainable = not is_outside_model(owning_run(run_dir))
    for start in range(0, len(errors), per_row):
        rows = errors.iloc[start:start + per_row]
        for column, (i, row) in zip(st.columns(per_row), rows.iterrows(), strict=False):  # last row short
            with column:
                thumbnail = loaders.thumbnail(row["path"])
                if thumbnail is None:
                    st.caption(f"image not found: {Path(row['path']).name}")
                else:
                    st.image(thumbnail, width="stretch")
                if head == ev.AGE_HEAD:
                    st.caption(f"true {row['true']:.0f} · predicted {row['pred']:.0f} "
                               f"(off by {row['error']:.0f} y)")
                else:
                    confidence = "?" if pd.isna(row["confidence"]) else f"{row['confidence']:.0%}"
                    st.caption(f"true **{row['true']}** · predicted **{row['pred']}** ({confidence})")
                if explainable and st.button("Explain", key=f"evaluate_explain_{i}",
                                             icon=":material/visibility:"):
                    st.session_state["explain_image"] = {"run_dir": str(owning_run(run_dir)), "path": row["path"]}
                    st.switch_page("pages/explain.py")
