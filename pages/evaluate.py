"""Evaluate: where does the model fail, and for whom?

Pick a run (and optionally a second to compare); confusion matrices per head,
figures per demographic group with intervals, age error against true age, the worst
groups and the worst errors, each one click from its saliency map.
"""

import streamlit as st

from dashboard import evaluate_view as view
from modelkit import evaluate as ev

st.title("Evaluate")

runs = view.list_runs()
if not runs:
    st.info("No run with predictions yet. Train one on the Train page (predictions are "
            "written when training finishes), or point FACESCOPE_RUNS_ROOT at your runs.")
    st.stop()

run_dir, compare_dir = view.run_picker_ui(runs)
mtime = view.predictions_mtime(run_dir)
predictions = view.load_predictions(str(run_dir), mtime)
if not [s for s in ev.available_splits(predictions) if s != "train"]:
    st.info(f"{run_dir.name} has no val or test predictions to evaluate.")
    st.stop()
split = view.split_ui(predictions)
where = view.group_filter_ui(predictions)
normalize = st.sidebar.toggle("Normalise rows (share of each true class)", key="evaluate_normalize")
where_key = tuple(where.items())

evaluations = {run_dir.name: (run_dir, mtime, view.load_evaluation(str(run_dir), mtime, split))}
if compare_dir is not None:
    compare_mtime = view.predictions_mtime(compare_dir)
    compare_predictions = view.load_predictions(str(compare_dir), compare_mtime)
    if split in ev.available_splits(compare_predictions):
        evaluations[compare_dir.name] = (
            compare_dir, compare_mtime, view.load_evaluation(str(compare_dir), compare_mtime, split))
    else:
        st.warning(f"{compare_dir.name} has no {split} predictions; showing {run_dir.name} alone.")
main = evaluations[run_dir.name][2]

# Overall
for name, (_, _, evaluation) in evaluations.items():
    st.subheader(f"{name} · {split} · {evaluation.n} faces")
    cells = st.columns(4)
    for cell, metric in zip(cells, ("gender_accuracy", "race_accuracy", "age_group_accuracy", "age_mae")):
        value = evaluation.overall_value(metric)
        label = view.metric_title(metric) + (" (vs range midpoint)" if metric == "age_mae"
                                            and evaluation.age_mae_vs_midpoint else "")
        cell.metric(label, "n/a" if value != value else (f"{value:.2f} y" if metric == "age_mae"
                                                          else f"{value:.1%}"))

# Confusion matrices
st.header("Confusion matrices")
st.caption(f"Rows: true label; columns: predicted. Faces: {view.where_title(where)}.")
for head, tab in zip(ev.CLASS_HEADS, st.tabs([view.HEAD_TITLES[h] for h in ev.CLASS_HEADS])):
    with tab:
        for column, (name, (folder, stamp, _)) in zip(st.columns(len(evaluations)), evaluations.items()):
            matrix = view.load_confusion(str(folder), stamp, split, head, normalize, where_key)
            with column:
                if matrix.n == 0:
                    st.info(f"No face with a {head} label among {view.where_title(where)} in {name}.")
                    continue
                st.plotly_chart(view.confusion_figure(
                    matrix, title=f"{view.HEAD_TITLES[head]} · {name} · {view.where_title(where)} "
                                  f"(n={matrix.n})"), key=f"evaluate_confusion_{head}_{name}")

# Figures by group
st.header("By group")
left, right = st.columns(2)
groupings = list(dict.fromkeys(main.by_group["grouping"]))
grouping = left.selectbox("Group by", groupings, key="evaluate_grouping", format_func=view.grouping_title)
metrics = list(dict.fromkeys(main.by_group.loc[main.by_group["grouping"] == grouping, "metric"]))
metric = right.selectbox("Figure", metrics, key="evaluate_metric", format_func=view.metric_title)
small_n = int(main.settings.get("gap_min_n", 5))
series = {name: e.by_group[(e.by_group["grouping"] == grouping) & (e.by_group["metric"] == metric)]
          for name, (_, _, e) in evaluations.items()}
st.plotly_chart(view.metric_by_group_figure(
    series, metric=metric, overall={name: e.overall_value(metric) for name, (_, _, e) in evaluations.items()},
    small_n=small_n), key="evaluate_by_group")
if metric in ev.LOWER_IS_BETTER and main.age_mae_vs_midpoint:
    st.caption("Age errors are measured against the midpoint of each true age range "
               "(the source gives ranges, not years).")
st.caption(f"Bars: {int(100 * main.settings['ci'])}% bootstrap interval ({main.settings['n_boot']} "
           f"resamples); faded bars have fewer than {small_n} labelled faces. Dashed: overall.")

# Age against true age
st.header("Age error against true age")
ages = {name: view.load_mae_by_age(str(folder), stamp, split, where_key)
        for name, (folder, stamp, _) in evaluations.items()}
if all(table.empty for table in ages.values()):
    st.info(f"No face with a known age among {view.where_title(where)}.")
else:
    st.plotly_chart(view.mae_by_age_figure(ages, vs_midpoint=main.age_mae_vs_midpoint),
                    key="evaluate_age")

# Worst groups
st.header("Worst groups")
min_n = st.slider("Only groups with at least n labelled faces", 1, 100, small_n, key="evaluate_min_n")
ranked = view.worst_groups_table(main, metric=metric, min_n=min_n)
st.caption(f"{view.metric_title(metric)}, {run_dir.name}, worst first.")
st.dataframe(ranked, hide_index=True, width="stretch")

# Worst errors
st.header("Worst errors")
head = st.selectbox("Head", ev.EVAL_HEADS, key="evaluate_gallery_head",
                    format_func=lambda h: view.HEAD_TITLES[h])
errors = view.load_worst_errors(str(run_dir), mtime, split, head, where_key, 12)
st.caption(f"{view.where_title(where)}: " + ("largest age errors." if head == ev.AGE_HEAD else
           "wrong predictions, most confident first."))
if errors.empty:
    st.info("No errors here.")
else:
    view.error_gallery_ui(errors, run_dir=run_dir, head=head)
