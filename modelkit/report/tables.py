"""HTML tables of a report: every cell escaped, every number written the one way
(``number``: 3 decimals; ``interval``: ``[low, high]``), so a reader, or a test, can
read a figure off the page and find it in the JSON twin.
"""

from __future__ import annotations

import html

from modelkit import labels
from modelkit.config import ATTRIBUTE_TITLES
from modelkit.evaluate.metrics import SUMMARY_METRIC

MISSING = "–"  # a figure that cannot be computed (null in the JSON)


def number(value, *, signed: bool = False) -> str:
    """A figure as the page writes it: 3 decimals, ``–`` for null."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, int)):
        return str(value)
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def interval(bounds, *, signed: bool = False) -> str:
    """``[low, high]`` with 3 decimals, ``–`` when there is none."""
    if not bounds:
        return MISSING
    return f"[{number(bounds[0], signed=signed)}, {number(bounds[1], signed=signed)}]"


def with_interval(value, bounds) -> str:
    return number(value) + ("" if not bounds else f" {interval(bounds)}")


def metric_label(metric: str) -> str:
    """``race_macro_f1`` -> ``race macro F1``; ``age_mae`` -> ``age MAE``."""
    words = {"mae": "MAE", "median_ae": "median AE", "f1": "F1", "macro_f1": "macro F1"}
    for key in sorted(words, key=len, reverse=True):
        if metric.endswith("_" + key):
            return f"{metric[: -len(key) - 1].replace('_', ' ')} {words[key]}"
    return metric.replace("_", " ")


def grouping_title(key: str) -> str:
    """``race_x_gender`` -> ``race × gender``."""
    return " × ".join(ATTRIBUTE_TITLES.get(a, a).lower() for a in key.split("_x_"))


def table(header: list[str], rows: list[list], *, table_id: str | None = None,
          caption: str | None = None, numeric_from: int = 1) -> str:
    """An HTML table; cells are text (escaped), columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i >= numeric_from else "txt"}">'
                         f"{html.escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: dict, *, table_id: str | None = None) -> str:
    """A two-column table of settings (values as JSON would print them)."""
    return table(["", "value"], [[k, _plain(v)] for k, v in pairs.items()], table_id=table_id,
                 numeric_from=2)


def _plain(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def overall_table(figures: dict, *, table_id: str) -> str:
    """Every overall metric of an evaluation with its interval."""
    overall = figures["overall"]
    metrics = [m for m in overall["ci"]]
    rows = [[m, number(overall[m]), interval(overall["ci"][m])] for m in metrics]
    return table(["metric", "value", "95% interval"], rows, table_id=table_id,
                 caption=f"Overall, {figures['n']} faces")


def group_metrics(figures: dict) -> list[str]:
    """The metrics a per-group table shows: accuracy and macro F1 of class heads,
    age MAE; those the evaluation has."""
    shown = []
    for head in labels.HEADS:
        names = [f"{head}_{SUMMARY_METRIC[head]}"] + ([f"{head}_macro_f1"] if head != "age" else [])
        shown += [m for m in names if m in figures["overall"]]
    return shown


def groups_table(figures: dict, grouping: str, *, table_id: str) -> str:
    """One row per group of ``grouping``: n, then each shown metric with its interval."""
    metrics = group_metrics(figures)
    rows = [[group, entry["n"], *(with_interval(entry.get(m), entry["ci"].get(m)) for m in metrics)]
            for group, entry in figures["by_group"].get(grouping, {}).items()]
    return table(["group", "n", *metrics], rows, table_id=table_id,
                 caption=f"By {grouping_title(grouping)}")


def gaps_table(figures: dict, *, table_id: str) -> str:
    """Best and worst group of each grouping and metric (groups with n >= gap_min_n)."""
    rows = [[f"{grouping_title(g)}: {m}", e["best_group"], number(e["best"]), e["worst_group"],
             number(e["worst"]), number(e["difference"]), number(e["ratio"]), e["n_groups"]]
            for g, metrics in figures["gaps"].items() for m, e in metrics.items()
            if m in group_metrics(figures)]
    return table(["grouping: metric", "best group", "best", "worst group", "worst", "difference",
                  "ratio", "groups"], rows, table_id=table_id,
                 caption=f"Gaps between the best and worst group (groups with n ≥ "
                         f"{figures['settings']['gap_min_n']})", numeric_from=2)


def calibration_table(calibration: dict, head: str, *, table_id: str) -> str:
    entry = calibration[head]
    rows = [["overall", entry["overall"]["n"], number(entry["overall"]["ece"]),
             interval(entry["overall"]["ece_ci"]), number(entry["overall"]["brier"])]]
    rows += [[f"{grouping_title(g)}: {name}", e["n"], number(e["ece"]), interval(e["ece_ci"]),
              number(e["brier"])]
             for g, groups in entry["by_group"].items() if "_x_" not in g for name, e in groups.items()]
    return table(["group", "n", "ECE", "95% interval", "Brier"], rows, table_id=table_id,
                 caption=f"{head} calibration per group (top-class confidence)")


def change_table(changes: dict, *, table_id: str, caption: str) -> str:
    """Paired changes (``compare --json`` entries keyed by a label): baseline, this run,
    the change, its interval, and a star where the interval excludes 0."""
    rows = [[name, e["n"], number(e["baseline"]), number(e["other"]),
             number(e["difference"], signed=True), interval(e["ci"], signed=True),
             "*" if e["excludes_zero"] else ""] for name, e in changes.items()]
    return table(["", "n", "baseline", "this run", "change", "95% interval", "excludes 0"], rows,
                 table_id=table_id, caption=caption)
