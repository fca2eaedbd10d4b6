"""Build a report: its twin (every number, as JSON) and its page, written side by side.

Example::

    write_report("runs/abc", on=["fairface"], compare=["runs/base"], out="abc.html")
    # -> (Path("abc.html"), Path("abc.json"))
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from modelkit.evaluate.compare.inputs import resolve_run
from modelkit.evaluate.predictions import predictions_path
from modelkit.provenance import made_by
from modelkit.report.caveats import caveats
from modelkit.report.content import (
    OWN_SPLIT,
    comparison_entry,
    evaluation_entry,
    label_quality,
    model_details,
    training_balance,
)
from modelkit.report.examples import draw_examples, worst_examples

REPORT_SCHEMA = 1
REPORT_SUFFIX = ".html"
TWIN_SUFFIX = ".json"


def report_command(run_dir, *, on: Sequence[str] = (), compare: Sequence[str] = (),
                   out: str | os.PathLike = "report.html") -> str:
    """The command that writes this report: what the page says to regenerate it."""
    argv = ["python", "-m", "modelkit", "report", "--run-dir", str(run_dir)]
    for name in on:
        argv += ["--on", name]
    for other in compare:
        argv += ["--compare", str(other)]
    return shlex.join(argv + ["--out", str(out)])


def build_report(run_dir: str | os.PathLike, *, on: Sequence[str] = (), compare: Sequence[str] = (),
                 runs_root: str | os.PathLike | None = None, out: str | os.PathLike = "report.html",
                 examples: bool = True) -> tuple[dict, list]:
    """The report's twin and its examples (with pictures) for a run folder.

    The run's own split is evaluated when it has predictions of its own, then each
    evaluation set in ``on``; each run in ``compare`` is a baseline, on every one of
    those sets.

    Raises:
        FileNotFoundError: no such run folder, evaluation set or compared run.
        ValueError: nothing to evaluate, or a set or run named twice.
    """
    folder = Path(run_dir)
    model = model_details(folder)
    for what, names in (("evaluation set", on), ("compared run", compare)):
        if len(set(names)) != len(names):
            raise ValueError(f"a {what} is named twice: {list(names)}")
    for other in compare:  # a mistyped baseline is an error, not a "could not compare"
        resolve_run(other, runs_root=runs_root)
    targets = ([OWN_SPLIT] if predictions_path(folder).is_file() else []) + list(on)
    if not targets:
        raise ValueError(f"{folder.name} has no predictions of its own to report on; name an "
                         "evaluation set with --on SET (made by `python -m modelkit predict "
                         f"--run-dir {folder} ... --name SET`)")
    entries, evaluated = [], []
    for target in targets:
        entry, evaluation = evaluation_entry(folder, on=target)
        if "age" in evaluation.heads:
            from modelkit.evaluate import mae_by_true_age

            entry["age_by_true_age"] = mae_by_true_age(evaluation.predictions).to_dict("records")
        entries.append(entry)
        evaluated.append((entry["name"], evaluation))
    shown = [e for name, ev in evaluated for e in worst_examples(ev, name=name)] if examples else []
    draw_examples(shown, folder)
    twin = {
        "report": {"schema": REPORT_SCHEMA, "run_dir": str(run_dir),
                   "command": report_command(run_dir, on=on, compare=compare, out=out),
                   "made_by": made_by()},
        "model": model,
        "training_balance": training_balance(folder),
        "evaluations": entries,
        "comparisons": [comparison_entry(folder, other, on=target, runs_root=runs_root)
                        for other in compare for target in targets],
        "label_quality": label_quality(folder, runs_root=runs_root),
        "examples": [e.to_json_dict() for e in shown],
    }
    twin["caveats"] = caveats(twin)
    return twin, shown


def write_report(run_dir: str | os.PathLike, *, out: str | os.PathLike, **kwargs) -> tuple[Path, Path]:
    """Write ``out`` (the page) and its twin beside it (``.json``); each file appears
    whole or not at all. Keywords as :func:`build_report`.

    Raises:
        ValueError: ``out`` is not an ``.html`` file; as :func:`build_report`.
    """
    from modelkit.report.page import render_page

    page = Path(out)
    if page.suffix.lower() != REPORT_SUFFIX:
        raise ValueError(f"--out must name an {REPORT_SUFFIX} file, got {out}")
    twin, shown = build_report(run_dir, out=out, **kwargs)
    json_path = page.with_suffix(TWIN_SUFFIX)
    page.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(json_path, json.dumps(twin, indent=1, allow_nan=False, default=str))
    _write_whole(page, render_page(twin, shown))
    return page, json_path


def render_report(run_dir: str | os.PathLike, **kwargs) -> tuple[str, str]:
    """(page, twin JSON) as text, for a download button that writes no file."""
    from modelkit.report.page import render_page

    twin, shown = build_report(run_dir, **kwargs)
    return render_page(twin, shown), json.dumps(twin, indent=1, allow_nan=False, default=str)


def _write_whole(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
