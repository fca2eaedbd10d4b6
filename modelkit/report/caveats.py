"""A report's caveats, written from its own figures: what a reader should not read into
them. Nothing here is said unless the data says it: a group too small for the gaps,
ages given as ranges, a race vocabulary folded into another, a small evaluated split,
an interval too wide to rank groups, a run that did not record its data.

Each caveat is ``{"kind", "about", "text"}``: ``kind`` one of ``CAVEAT_KINDS``,
``about`` the section it concerns (an evaluation's name, "model", a comparison).
"""

from __future__ import annotations

from modelkit.evaluate.metrics import LOWER_IS_BETTER, SUMMARY_METRIC
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES
from modelkit.report.tables import grouping_title, metric_label

CAVEAT_KINDS = ("small_groups", "age_ranges", "race_folded", "no_race_labels", "small_split",
                "wide_interval", "skipped_images", "no_intervals", "not_recorded",
                "uncommitted_code", "unfinished_run", "outside_data", "not_comparable")
FINISHED = "finished"  # of runfolder.STATES: a run that ran all its epochs
SMALL_SPLIT = 1000          # faces: below this, intervals per group are wide
WIDE_INTERVAL = {"accuracy": 0.10, "mae": 2.0}  # an interval spanning more cannot rank groups
LISTED = 6                  # groups named in one caveat before "and N more"


def caveats(report: dict) -> list[dict]:
    """Every caveat of a report's twin (``build.report_twin``), model first."""
    out = model_caveats(report["model"], report.get("training_balance"))
    for entry in report["evaluations"]:
        out += evaluation_caveats(entry)
    for entry in report.get("comparisons", []):
        if entry.get("not_comparable"):
            out.append(_caveat("not_comparable", f"vs {entry['baseline']}",
                               f"{entry['baseline']} could not be compared with this run: "
                               f"{entry['not_comparable']}"))
    return out


def model_caveats(model: dict, balance: dict | None) -> list[dict]:
    if model["kind"] == "outside":
        source = model["card"].get("source") or "its card names no source"
        return [_caveat("outside_data", "model", "FaceScope did not train this model and never "
                        f"saw its training data ({source}): the report cannot say how that "
                        "data was balanced, nor whether the evaluated faces were in it.")]
    out = []
    made = model.get("trained_with") or {}
    missing = [what for what, absent in (("its training balance", balance is None),
                                         ("the commit it was trained from", not made.get("commit")))
               if absent]
    if missing:
        out.append(_caveat("not_recorded", "model", f"The run did not record {' or '.join(missing)} "
                           "(it was trained before FaceScope recorded them, or outside a git "
                           "checkout)."))
    if made.get("dirty"):
        out.append(_caveat("uncommitted_code", "model", f"The run was trained from a checkout "
                           f"with uncommitted changes: commit {made['commit'][:12]} does not "
                           "fully describe the code that trained it."))
    state = (model.get("status") or {}).get("state")
    if state and state != FINISHED:
        out.append(_caveat("unfinished_run", "model", f"The run's state is {state!r}: its "
                           "figures are those of the weights it saved last."))
    return out


def evaluation_caveats(entry: dict) -> list[dict]:
    """Caveats of one evaluated set (``evaluate --json``'s object in ``entry``)."""
    name, figures = entry["name"], entry["evaluation"]
    settings = figures["settings"]
    out = []
    small = _small_groups(figures["by_group"], settings["gap_min_n"])
    if small:
        out.append(_caveat("small_groups", name, f"{len(small)} groups have fewer than "
                           f"{settings['gap_min_n']} labelled faces for a head ({_listed(small)}): "
                           "their figures are in the tables, with their n, but not in the gaps."))
    if figures["age_mae_vs_midpoint"]:
        out.append(_caveat("age_ranges", name, f"{_sentence(name)} gives ages as ranges, not years: age "
                           "errors are measured against each true range's midpoint, so a "
                           "guess inside the right range can still count as years wrong."))
    out += _set_caveats(name, figures.get("evaluation_set"))
    if settings["n_boot"] == 0:
        out.append(_caveat("no_intervals", name, "The figures were computed without "
                           "bootstrap resamples: they have no intervals."))
    if figures["n"] < SMALL_SPLIT:
        out.append(_caveat("small_split", name, f"{_sentence(name)} has {figures['n']} faces: groups "
                           "are small, so their intervals are wide."))
    wide = _widest_intervals(figures)
    if wide:
        out.append(_caveat("wide_interval", name, "Some groups' intervals are too wide to "
                           "rank them against the others: " + "; ".join(wide) + "."))
    return out


def _set_caveats(name: str, info: dict | None) -> list[dict]:
    if not info:
        return []
    out = []
    mapping = info.get("race_mapping") or {}
    kind = mapping.get("kind")
    if kind == "none":
        out.append(_caveat("no_race_labels", name, f"{name} has no race labels: the race "
                           "head is not evaluated on it."))
    elif kind in ("labels", "predictions"):
        folded = "the set's labels" if kind == "labels" else "the model's predictions"
        table = mapping.get("table") or {}
        merged = sorted({f"{', '.join(sorted(k for k, v in table.items() if v == target))} "
                         f"-> {target}" for target in set(table.values())
                         if sum(v == target for v in table.values()) > 1})
        out.append(_caveat("race_folded", name, f"Race was compared in {mapping.get('to')}'s "
                           f"classes: {folded} were folded from {mapping.get('from')}'s"
                           + (f" ({'; '.join(merged)})" if merged else "")
                           + ". Race figures measure the folded classes, not the original ones."))
    if info.get("n_skipped"):
        out.append(_caveat("skipped_images", name, f"{info['n_skipped']} of the set's images "
                           "could not be read or had no face; they are not counted."))
    return out


def _small_groups(by_group: dict, min_n: int) -> list[str]:
    small = []
    for grouping, groups in by_group.items():
        for group, figures in groups.items():
            counts = [n for n in figures["n_labelled"].values() if n]
            if counts and min(counts) < min_n:
                small.append(f"{grouping_title(grouping)} {group} (n={min(counts)})")
    return small


def _widest_intervals(figures: dict) -> list[str]:
    """Single-attribute groups whose interval of a summary metric spans more than
    ``WIDE_INTERVAL``, widest first."""
    found = []
    for head, measure in SUMMARY_METRIC.items():
        metric = f"{head}_{measure}"
        for grouping in GROUP_ATTRIBUTES:
            for group, entry in figures["by_group"].get(grouping, {}).items():
                interval = entry["ci"].get(metric)
                if interval and interval[1] - interval[0] > WIDE_INTERVAL[measure]:
                    found.append((interval[1] - interval[0], metric, group, interval))
    found.sort(reverse=True)
    return [f"{group}: {metric_label(metric)} [{lo:.3f}, {hi:.3f}]"
            + (" years" if metric in LOWER_IS_BETTER else "")
            for _, metric, group, (lo, hi) in found[:LISTED]]


def _sentence(name: str) -> str:
    """An evaluation's name to open a sentence: ``The test split``, ``fairface``."""
    return f"The {name}" if name.endswith(" split") else name


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _caveat(kind: str, about: str, text: str) -> dict:
    assert kind in CAVEAT_KINDS, kind
    return {"kind": kind, "about": about, "text": text}
