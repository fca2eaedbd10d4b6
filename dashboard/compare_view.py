"""The Compare page's widgets: pick a baseline and the runs to compare with it, then one
``*_ui()`` per section (what differs, overall, by group, the changes that hold up,
the gaps, the training curves).

The numbers come from ``modelkit.evaluate.compare.runs`` (paired bootstrap on the faces
both runs evaluated), cached by the runs' folders, their predictions' mtimes, the
split and the number of resamples; the charts from ``dashboard.compare_figures``.

A link opens the page preselected: ``compare?baseline=ID&runs=ID2,ID3``
(:func:`link_params`; docs/CONTRACTS.md). The page keeps the URL in step with the
pickers, so the address bar can be shared. Widget keys start with ``compare_``.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from dashboard import compare_figures as figs
from dashboard import compare_on_view, demo_view, loaders
from dashboard.runs_view import compare_curves_figure, epoch_frame
from dashboard.titles import ATTRIBUTE_TITLES, run_color
from modelkit import evaluate as ev
from modelkit import paths
from modelkit.evaluate.compare.inputs import resolve_run
from modelkit.evaluate.compare.result import Comparison
from modelkit.evaluate.compare.runs import DEFAULT_N_BOOT, compare
from modelkit.prediction.evalsets import EVAL_DIR, eval_set_ref, is_eval_set, owning_run

BASELINE_PARAM, RUNS_PARAM = "baseline", "runs"
HEADLINE = ("gender_accuracy", "race_accuracy", "race_balanced_accuracy", "age_mae", "race_ece")
CURVES = {"val_loss": "Validation loss", "val_gender_accuracy": "Validation gender accuracy",
          "val_race_accuracy": "Validation race accuracy", "val_age_mae": "Validation age MAE (years)"}
_APPLIED = "compare_link_applied"
OWN_SPLIT = compare_on_view.OWN_SPLIT


def link_params(baseline: str, runs: list[str]) -> dict[str, str]:
    """The query parameters that open the Compare page preselected, e.g. for
    ``st.page_link("pages/compare.py", query_params=link_params("a", ["b"]))``."""
    return {BASELINE_PARAM: baseline, RUNS_PARAM: ",".join(runs)}


@st.cache_data(show_spinner="Comparing the runs on the same faces…", max_entries=8)
def comparison(baseline: str, others: tuple[str, ...], stamps: tuple, split: str,
               n_boot: int, on: str = OWN_SPLIT) -> Comparison:
    """The comparison (cached; ``stamps``, the predictions' mtimes, key a retrained run)."""
    runs = [baseline, *others]
    if on:
        runs = [eval_set_ref(r, on) for r in runs]
    return compare(runs, split=split, n_boot=n_boot)


def compare_ui(baseline: str, others: list[str], *, split: str, on: str = OWN_SPLIT) -> Comparison | None:
    """The comparison of the picked runs (on evaluation set ``on`` when given); None
    (and the error shown) when it fails."""
    folders = [os.fspath(resolve_run(name).run_dir) for name in (baseline, *others)]
    tables = [os.path.join(f, EVAL_DIR, on) if on else f for f in folders]
    stamps = tuple(loaders.predictions_mtime(t) for t in tables)
    try:
        return comparison(folders[0], tuple(folders[1:]), stamps, split, DEFAULT_N_BOOT, on)
    except (FileNotFoundError, ValueError) as exc:
        st.error(str(exc))
        return None


# ----------------------------------------------------------------------------- sidebar

def picker_ui(names: list[str]) -> tuple[str, list[str]]:
    """Sidebar: the baseline and the runs to compare with it, preselected from the
    link's ``?baseline=ID&runs=ID2,ID3`` when it changed; the URL follows the pickers."""
    link = (st.query_params.get(BASELINE_PARAM), st.query_params.get(RUNS_PARAM))
    if st.session_state.get(_APPLIED) != link and any(link):
        wanted = [r for r in (link[1] or "").split(",") if r]
        missing = [r for r in [link[0], *wanted] if r and r not in names]
        if missing:
            st.warning(f"Not comparable (not finished, or no predictions): {', '.join(missing)}.")
        if link[0] in names:
            st.session_state["compare_baseline"] = link[0]
        valid = [r for r in wanted if r in names and r != link[0]]
        if valid:
            st.session_state["compare_runs"] = valid
        else:  # the default pick below
            st.session_state.pop("compare_runs", None)
    baseline = st.sidebar.selectbox("Baseline", names, key="compare_baseline",
                                    help="The run the others are measured against")
    options = [n for n in names if n != baseline]
    if "compare_runs" in st.session_state:  # a run made the baseline leaves the others
        st.session_state["compare_runs"] = [r for r in st.session_state["compare_runs"] if r in options]
    else:
        st.session_state["compare_runs"] = options[:1]
    others = st.sidebar.multiselect("Compare with", options, key="compare_runs",
                                    placeholder="pick one or more runs")
    params = link_params(baseline, others)
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
    st.session_state[_APPLIED] = (params[BASELINE_PARAM], params[RUNS_PARAM])
    return baseline, others


def split_ui(baseline: str) -> str:
    """Sidebar: the split (the baseline's val/test splits, test first)."""
    folder = paths.runs_root() / baseline
    table = loaders.predictions(str(folder), loaders.predictions_mtime(folder))
    splits = sorted([s for s in ev.available_splits(table) if s != "train"], key=lambda s: s != "test")
    return st.sidebar.radio("Split", splits or ["test"], key="compare_split", horizontal=True)


def empty_state_ui(names: list[str], reasons: dict[str, str], *, on: str = OWN_SPLIT) -> None:
    """What to do when fewer than two runs can be compared."""
    have = f" There is one so far: {names[0]}." if names else ""
    if on:
        st.info(f"Only {len(names)} run or model has the evaluation set {on!r}.{have} Predict "
                f"another on the same dataset (Evaluate page, 'Predict on another dataset', name "
                f"{on!r}) to compare them on it.")
        return
    st.info("Compare needs two finished runs evaluated on the same faces." + have + " Train them on "
            "the Train page with the same source, limit and seed (say one as it is and one with "
            "balancing), or from a shell: `python -m modelkit train --source synthetic --background` "
            "and again with `--balance race`. They appear here when their predictions are written.")
    sets = compare_on_view.evaluation_set_names()
    if sets:
        st.info("Runs and outside models predicted on another dataset compare on that "
                f"evaluation set: pick it under **Faces** in the sidebar ({', '.join(sets)}).")
    demo_view.demo_button_ui(key="compare_demo", experiment=True)
    not_comparable_ui(reasons)


def not_comparable_ui(reasons: dict[str, str]) -> None:
    """The runs that cannot be compared, each with why."""
    if reasons:
        with st.expander(f"Not comparable ({len(reasons)})"):
            for name, reason in reasons.items():
                st.markdown(f"- **{name}**: {reason}")


# ----------------------------------------------------------------------------- sections

def summary_ui(result: Comparison) -> None:
    """Who is compared with whom, on how many faces, and what was left out."""
    ci = round(100 * result.settings["ci"])
    faces = (f"evaluation set {result.baseline.run_dir.name}" if is_eval_set(result.baseline.run_dir)
             else f"{result.split} split")
    st.caption(f"Baseline **{result.baseline.id}**, {faces}. Intervals: {ci}% paired "
               f"bootstrap of the change ({result.settings['n_boot']} resamples of the faces both runs "
               "evaluated, the same faces for both runs, within each group). Solid marks: the interval "
               "excludes 0.")
    for pair in result.pairs:
        notes = pair.notes + [f"Left out: {n}" for n in pair.left_out]
        line = f"**{pair.id}**: {pair.n_shared} shared faces"
        st.markdown(line + ("" if not notes else " — " + "; ".join(notes)))
    for entry in result.not_comparable:
        st.warning(f"{entry['id']} is not compared: {entry['reason']}")


def config_ui(result: Comparison) -> None:
    """The train settings that differ from the baseline's, one column per run."""
    names = sorted({k for p in result.pairs for k in p.config_differences})
    if not names:
        st.caption("Every train setting is the same as the baseline's (another seed of the "
                   "same recipe would show as `seed`).")
        return
    table = pd.DataFrame(index=names)
    table[result.baseline.id] = [_setting(result, n, 0) for n in names]
    for pair in result.pairs:
        table[pair.id] = [_shown(pair.config_differences[n][1]) if n in pair.config_differences else "same"
                          for n in names]
    st.dataframe(table, width="content")


def _setting(result: Comparison, name: str, side: int) -> str:
    for pair in result.pairs:
        if name in pair.config_differences:
            return _shown(pair.config_differences[name][side])
    return ""


def _shown(value) -> str:
    """A setting as the Train form writes it: ``{"race": 2.0, ...}`` -> ``race=2, ...``."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    return str(value)


def headline_ui(result: Comparison) -> None:
    """Overall figures of each run, the change from the baseline as the delta (grey when
    its interval includes 0)."""
    overall = result.overall
    for run in result.run_ids:
        rows = overall[overall["run"] == run].set_index("metric")
        st.markdown(f"**{run}** vs {result.baseline.id}")
        shown = [m for m in HEADLINE if m in rows.index]
        for cell, metric in zip(st.columns(len(HEADLINE)), shown, strict=False):
            row = rows.loc[metric]
            interval = (f"[{figs.format_value(metric, row['ci_low'], signed=True)}, "
                        f"{figs.format_value(metric, row['ci_high'], signed=True)}]")
            bounds = "[" + ", ".join(figs.format_value(metric, row[k], signed=True).split()[0]
                                     for k in ("ci_low", "ci_high")) + "]"
            cell.metric(figs.metric_title(metric, short=True), figs.format_value(metric, row["other"]),
                        delta=figs.format_value(metric, row["difference"], signed=True),
                        delta_color=("off" if not row["excludes_zero"] else
                                     "normal" if row["higher_is_better"] else "inverse"),
                        delta_arrow="off" if row["difference"] == 0 else "auto",
                        delta_description=bounds,
                        help=f"{figs.metric_title(metric)}. Baseline "
                             f"{figs.format_value(metric, row['baseline'])}; the change's "
                             f"{round(100 * result.settings['ci'])}% paired interval {interval} "
                             f"{'excludes' if row['excludes_zero'] else 'includes'} 0 (grey: it "
                             "could be noise)")


def by_group_ui(result: Comparison) -> str:
    """Pick an attribute and a figure; the dumbbell chart of every group. Returns the
    chosen metric (the gaps section shows its gaps)."""
    left, right = st.columns(2)
    attributes = [a for a in ev.GROUP_ATTRIBUTES if (result.figures["grouping"] == a).any()]
    attribute = left.selectbox("Groups of", attributes, key="compare_attribute",
                               format_func=lambda a: ATTRIBUTE_TITLES[a])
    rows = result.figures[result.figures["grouping"] == attribute]
    present = set(rows["metric"])  # in the overall rows' order: head by head
    metrics = [m for m in dict.fromkeys(result.figures["metric"]) if m in present]
    default = metrics.index("race_accuracy") if "race_accuracy" in metrics else 0
    metric = right.selectbox("Figure", metrics, index=default, key="compare_metric",
                             format_func=figs.metric_title)
    order = list(dict.fromkeys(rows["group"]))  # vocabulary order, as compared
    shown = figs.group_rows(result.figures, grouping=attribute, metric=metric, order=order)
    small_n = int(result.settings["gap_min_n"])
    st.plotly_chart(figs.dumbbell_figure(
        shown, metric=metric, baseline=result.baseline.id, runs=result.run_ids, ci=result.settings["ci"],
        title=f"{figs.metric_title(metric)} by {ATTRIBUTE_TITLES[attribute].lower()}", small_n=small_n),
        key="compare_dumbbell")
    st.caption(f"Dot: {result.baseline.id}; diamond: the run; right: the change with its paired "
               f"interval. Solid: the interval excludes 0. Faded: fewer than {small_n} faces.")
    return metric


def significant_ui(result: Comparison) -> None:
    """The changes whose interval excludes 0, largest first (shares, then years)."""
    table = result.significant()
    if table.empty:
        st.info("No change's interval excludes 0: on these faces, the runs cannot be told apart.")
        return
    shown = figs.significant_table(table)
    st.caption(f"{len(shown)} changes hold up (interval excludes 0). With hundreds of figures, "
               "about 1 in 20 true non-changes will too: trust the large ones and the patterns.")
    st.dataframe(shown, hide_index=True, width="stretch", key="compare_significant",
                 column_config={"figure": st.column_config.TextColumn(width="medium")})


def gaps_ui(result: Comparison, *, metric: str) -> None:
    """The gap (best - worst group) of ``metric`` per attribute, before and after."""
    rows = figs.gap_rows(result.gaps, metric=metric)
    if rows.empty:
        st.info(f"No gap of {figs.metric_title(metric)}: it needs two groups of at least "
                f"{result.settings['gap_min_n']} faces.")
        return
    st.plotly_chart(figs.dumbbell_figure(
        rows, metric=metric, baseline=result.baseline.id, runs=result.run_ids, ci=result.settings["ci"],
        title=f"Gap in {figs.metric_title(metric)} (best − worst group)", value_title="gap"),
        key="compare_gaps")
    gaps = result.gaps[result.gaps["metric"] == metric]
    st.dataframe(figs.gap_table(gaps, metric=metric), hide_index=True, width="stretch",
                 key="compare_gap_table")
    st.caption(f"Groups of at least {result.settings['gap_min_n']} faces; best > worst.")


def curves_ui(result: Comparison) -> None:
    """The runs' validation curves overlaid (the Runs page's figure)."""
    frames = {result.baseline.id: epoch_frame(owning_run(result.baseline.run_dir)),
              **{p.id: epoch_frame(owning_run(p.run_dir)) for p in result.pairs}}
    if not any(len(f) for f in frames.values()):
        st.info("No epoch metrics (metrics.jsonl) in these runs.")
        return
    colors = {name: run_color(i) for i, name in enumerate(frames)}  # as in the charts above
    for column, key in zip(st.columns(2) * 2, CURVES, strict=True):
        figure = compare_curves_figure(frames, key=key)
        for trace in figure.data:
            trace.line.color = colors[trace.name]
        figure.update_xaxes(dtick=1)
        figure.update_layout(title=CURVES[key])
        with column:
            st.plotly_chart(figure, key=f"compare_curve_{key}")
