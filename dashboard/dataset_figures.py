"""The Dataset page's Plotly figures: the before/after bars of one training epoch and
the heatmap of two attributes. Each takes a tidy table (or the manifest) and draws it;
"not labelled" stays a visible category, never dropped.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.titles import AFTER_COLOR, ATTRIBUTE_TITLES, BEFORE_COLOR
from modelkit import labels

BEFORE, AFTER = "before", "after plan"  # the train split as it is; one epoch under the plan


def before_after_figure(table: pd.DataFrame, *, attribute: str, measure: str) -> go.Figure:
    """Grouped bars, before vs after, one pair per value; "not labelled" kept visible."""
    fig = px.bar(
        table, x="value", y=measure, color="stage", barmode="group",
        color_discrete_map={BEFORE: BEFORE_COLOR, AFTER: AFTER_COLOR},
        category_orders={"value": list(dict.fromkeys(table["value"]))},
        text="images" if measure == "images" else table["share"].map("{:.0%}".format),
        labels={"value": ATTRIBUTE_TITLES[attribute], "images": "images per epoch",
                "share": "share of the epoch"},
        title=ATTRIBUTE_TITLES[attribute],
    )
    # Numbers on the bars only where they fit (the nine age groups, and thin bars in a
    # narrow column, rely on hover): hidden, not shrunk into the neighbour's number.
    if table["value"].nunique() <= 7:
        fig.update_traces(textposition="outside", cliponaxis=False, textfont_size=11)
        fig.update_layout(uniformtext_minsize=10, uniformtext_mode="hide", bargroupgap=0.08)
    else:
        fig.update_traces(text=None)
    if measure == "share":
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(legend_title_text="", legend=dict(orientation="h", y=-0.25),
                      margin=dict(t=50, b=10, l=10, r=10), height=380)
    return fig


def heatmap_figure(manifest: pd.DataFrame, *, rows: str, columns: str) -> go.Figure:
    """Images per cell of two attributes (e.g. age group × race), counts written in."""
    frame = manifest[[rows, columns]].copy()
    for column in (rows, columns):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), labels.NOT_LABELLED)
    table = pd.crosstab(frame[rows], frame[columns])
    order_r = [v for v in [*manifest[rows].cat.categories, labels.NOT_LABELLED] if v in table.index]
    order_c = [v for v in [*manifest[columns].cat.categories, labels.NOT_LABELLED] if v in table.columns]
    table = table.reindex(index=order_r, columns=order_c, fill_value=0)
    fig = px.imshow(table, text_auto=True, aspect="auto", color_continuous_scale="Blues",
                    labels={"x": ATTRIBUTE_TITLES[columns], "y": ATTRIBUTE_TITLES[rows],
                            "color": "images"})
    fig.update_layout(margin=dict(t=30, b=10, l=10, r=10), height=420)
    return fig
