"""A report's charts: Plotly figures drawn from the report's twin, so a chart shows
exactly the numbers the JSON and the tables hold.

The report is a document drawn offline, not the dashboard: it is the one place under
``modelkit`` allowed Plotly (pyproject.toml's import contract says so), and it never
imports Streamlit. Every figure is sized for a page about 1,000 px wide, with a title
that says what is drawn and axis titles with units.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modelkit.config import ATTRIBUTE_TITLES, HEAD_TITLES
from modelkit.evaluate.metrics import LOWER_IS_BETTER, SUMMARY_METRIC
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES

MEASURE_TITLES = {"accuracy": "accuracy", "mae": "MAE (years)"}
BEFORE, AFTER, MARK, WORSE, BETTER = "#9aa5b1", "#1f77b4", "#1f77b4", "#d62728", "#2ca02c"
FONT = {"family": "DejaVu Sans, Arial, sans-serif", "size": 13}


def _layout(figure: go.Figure, *, title: str, height: int) -> go.Figure:
    figure.update_layout(title={"text": title, "x": 0}, height=height, font=FONT,
                         margin={"l": 10, "r": 20, "t": 60, "b": 50}, template="plotly_white")
    return figure


def head_title(head: str) -> str:
    """``Gender``, ``Age``, ``Age group``: a head or a class head's name."""
    return HEAD_TITLES.get(head) or ATTRIBUTE_TITLES[head]


def metric_title(head: str) -> str:
    return f"{HEAD_TITLES[head]} {MEASURE_TITLES[SUMMARY_METRIC[head]]}"


def groups_figure(figures: dict, head: str) -> go.Figure | None:
    """Each gender, race and age group's summary metric of ``head`` with its interval,
    against the overall figure (dashed): ``figures`` is ``evaluate --json``'s object."""
    metric = f"{head}_{SUMMARY_METRIC[head]}"
    groupings = [a for a in GROUP_ATTRIBUTES if figures["by_group"].get(a)]
    rows = {a: [(g, e) for g, e in figures["by_group"][a].items() if e.get(metric) is not None]
            for a in groupings}
    groupings = [a for a in groupings if rows[a]]
    if not groupings:
        return None
    heights = [len(rows[a]) for a in groupings]
    figure = make_subplots(rows=len(groupings), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           row_heights=heights, subplot_titles=[ATTRIBUTE_TITLES[a] for a in groupings])
    overall = figures["overall"].get(metric)
    for row, attribute in enumerate(groupings, start=1):
        names = [f"{g} (n={e['n_labelled'][head]})" for g, e in rows[attribute]]
        values = [e[metric] for _, e in rows[attribute]]
        intervals = [e["ci"].get(metric) or [v, v] for (_, e), v in zip(rows[attribute], values, strict=True)]
        figure.add_trace(go.Scatter(
            x=values, y=names, mode="markers", marker={"size": 10, "color": MARK},
            error_x={"type": "data", "symmetric": False,
                     "array": [hi - v for (_, hi), v in zip(intervals, values, strict=True)],
                     "arrayminus": [v - lo for (lo, _), v in zip(intervals, values, strict=True)]},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>", showlegend=False), row=row, col=1)
        if overall is not None:
            figure.add_vline(x=overall, line={"dash": "dash", "color": "#555"}, row=row, col=1)
        figure.update_yaxes(autorange="reversed", row=row, col=1)
    figure.update_xaxes(title_text=metric_title(head) + ("; lower is better" if metric in LOWER_IS_BETTER
                                                          else ""), row=len(groupings), col=1)
    title = f"{metric_title(head)} per group, 95% intervals; dashed: overall"
    return _layout(figure, title=title, height=120 + 34 * sum(heights))


def confusion_figure(matrix: dict, head: str) -> go.Figure:
    """Rows: true class, columns: predicted; colour the share of the row, text the count."""
    counts = matrix["matrix"]
    shares = [[c / max(sum(row), 1) for c in row] for row in counts]
    figure = go.Figure(go.Heatmap(
        z=shares, x=matrix["labels"], y=matrix["labels"], zmin=0, zmax=1, colorscale="Blues",
        text=[[f"{c}<br>{s:.0%}" for c, s in zip(row, share, strict=True)]
              for row, share in zip(counts, shares, strict=True)],
        texttemplate="%{text}", colorbar={"title": "share of row"},
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    figure.update_xaxes(title_text="predicted", side="bottom")
    figure.update_yaxes(title_text="true", autorange="reversed")
    side = 160 + 48 * len(matrix["labels"])
    return _layout(figure, title=f"{head_title(head)}: confusion matrix (count, share of true class)",
                   height=side)


def age_error_figure(bins: list[dict], *, vs_midpoint: bool) -> go.Figure:
    """Age error against true age: the mean absolute error per bin (bars, with n) and
    the mean signed error (line; below 0 = guessed too young)."""
    x = [b["bin"] for b in bins]
    figure = go.Figure([
        go.Bar(x=x, y=[b["mae"] for b in bins], name="mean absolute error", marker_color=AFTER,
               text=[f"n={b['n']}" for b in bins], textposition="outside"),
        go.Scatter(x=x, y=[b["bias"] for b in bins], name="mean signed error (predicted - true)",
                   mode="lines+markers", line={"color": WORSE})])
    figure.add_hline(y=0, line={"color": "#555", "width": 1})
    truth = "midpoint of the true age range" if vs_midpoint else "true age"
    figure.update_xaxes(title_text=f"true age ({'range' if vs_midpoint else 'years'})", type="category")
    figure.update_yaxes(title_text=f"years from the {truth}")
    figure.update_layout(legend={"orientation": "h", "y": -0.25})
    return _layout(figure, title="Age error against true age", height=380)


def calibration_figure(calibration: dict, head: str) -> go.Figure | None:
    """Reliability curves of ``head``: accuracy against top-class confidence, overall and
    for each group of the grouping that holds the worst-calibrated group."""
    entry = calibration.get(head)
    if not entry or not entry.get("overall"):
        return None
    worst = entry.get("worst_group")
    grouping = worst["grouping"] if worst else None
    curves = [("overall", entry["overall"])] + list((entry["by_group"].get(grouping) or {}).items())
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                                  line={"dash": "dot", "color": "#999"}))
    for name, group in curves:
        curve = group["curve"]
        figure.add_trace(go.Scatter(
            x=curve["confidence"], y=curve["accuracy"], mode="lines+markers",
            name=f"{name} (ECE {group['ece']:.3f}, n={group['n']})" if group.get("ece") is not None
            else f"{name} (n={group['n']})",
            line={"width": 3 if name == "overall" else 1.5}))
    figure.update_xaxes(title_text="confidence of the predicted class", range=[0, 1])
    figure.update_yaxes(title_text="share correct", range=[0, 1])
    by = f", by {ATTRIBUTE_TITLES.get(grouping, grouping).lower()}" if grouping else ""
    return _layout(figure, title=f"{head_title(head)}: calibration{by}", height=420)


def balance_figure(balance: dict, attribute: str) -> go.Figure:
    """Training images per value of ``attribute``, before and after the balance plan."""
    values = list(balance["before"][attribute])
    figure = go.Figure([
        go.Bar(x=values, y=[balance[when][attribute].get(v, 0) for v in values], name=title,
               marker_color=color, text=[balance[when][attribute].get(v, 0) for v in values],
               textposition="outside")
        for when, title, color in (("before", "before the plan", BEFORE),
                                   ("after", "after the plan (one epoch)", AFTER))])
    figure.update_xaxes(title_text=ATTRIBUTE_TITLES[attribute], type="category")
    figure.update_yaxes(title_text="training images")
    figure.update_layout(barmode="group", legend={"orientation": "h", "y": -0.3})
    return _layout(figure, title=f"Training set by {ATTRIBUTE_TITLES[attribute].lower()}", height=360)


def change_figure(by_group: dict, head: str, *, baseline: str) -> go.Figure | None:
    """Each group's paired change of ``head``'s summary metric (this run - baseline),
    with its interval; coloured where the interval excludes 0."""
    metric = f"{head}_{SUMMARY_METRIC[head]}"
    rows = [(f"{ATTRIBUTE_TITLES[a]}: {g}", e[metric]) for a in GROUP_ATTRIBUTES
            for g, e in (by_group.get(a) or {}).items()
            if e.get(metric) and e[metric]["difference"] is not None]
    if not rows:
        return None
    better = [(e["difference"] > 0) == e["higher_is_better"] for _, e in rows]
    colors = [(BETTER if b else WORSE) if e["excludes_zero"] else BEFORE
              for (_, e), b in zip(rows, better, strict=True)]
    intervals = [e["ci"] or [e["difference"]] * 2 for _, e in rows]
    figure = go.Figure(go.Scatter(
        x=[e["difference"] for _, e in rows], y=[name for name, _ in rows], mode="markers",
        marker={"size": 10, "color": colors},
        error_x={"type": "data", "symmetric": False,
                 "array": [hi - e["difference"] for (_, e), (_, hi) in zip(rows, intervals, strict=True)],
                 "arrayminus": [e["difference"] - lo for (_, e), (lo, _) in zip(rows, intervals, strict=True)]},
        hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    figure.add_vline(x=0, line={"color": "#555"})
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(title_text=f"change in {metric_title(head)} (this run - {baseline})")
    return _layout(figure, title=f"{metric_title(head)}: paired change per group, 95% intervals<br>"
                   "<sup>green: better, red: worse, where the interval excludes 0</sup>",
                   height=140 + 30 * len(rows))
