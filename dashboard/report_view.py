"""The "Download report" buttons of the Evaluate and Compare pages: the audit report
``python -m modelkit report`` writes (``modelkit.report``), for what the page shows.

The report is built when a button is clicked, on Streamlit's download thread, so the
page's reruns never wait for it (a report evaluates every set with its bootstrap and
draws the worst errors' saliency maps: seconds to a minute). The HTML page and its JSON
twin share one build, kept while the predictions it read are unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from dashboard import loaders
from modelkit.evaluate.compare.inputs import resolve_run
from modelkit.prediction.evalsets import EVAL_DIR
from modelkit.report import render_report, report_command


def report_name(run_dir: str | Path, on: str | None = None) -> str:
    """The downloaded file's name: ``audit-<run>[-<set>].html``."""
    return f"audit-{Path(run_dir).name}" + (f"-{on}" if on else "") + ".html"


@functools.lru_cache(maxsize=4)
def report_files(run_dir: str, on: tuple[str, ...], compare: tuple[str, ...],
                 stamps: tuple) -> tuple[str, str]:
    """(HTML page, JSON twin) of a run's report. ``stamps``, the mtimes of the
    predictions it reads, is only the cache key: a retrained run gets a new report."""
    del stamps
    return render_report(run_dir, on=on, compare=compare,
                         out=report_name(run_dir, on[0] if on else None))


def download_report_ui(run_dir: Path, *, on: str | None = None, compare: Sequence[Path] = (),
                       key: str) -> None:
    """Sidebar: download the report of ``run_dir`` (on its own split, or on the
    evaluation set ``on``), against each run in ``compare`` as a baseline."""
    sets = (on,) if on else ()
    others = tuple(str(c) for c in compare)
    stamps = tuple(loaders.predictions_mtime(Path(f) / EVAL_DIR / on if on else f)
                   for f in (run_dir, *others))
    build = functools.partial(report_files, str(run_dir), sets, others, stamps)
    name = report_name(run_dir, on)
    command = report_command(run_dir, on=sets, compare=others, out=name)
    box = st.sidebar.container(border=True)
    box.caption("**Audit report** of " + run_dir.name + (f" on {on}" if on else "")
                + (f", against {', '.join(Path(c).name for c in compare)}" if compare else "")
                + ": one HTML file that opens offline, and its JSON twin with every number.")
    box.download_button("Download report", data=lambda: build()[0], file_name=name,
                        mime="text/html", key=f"{key}_html", on_click="ignore",
                        icon=":material/download:", help=f"The same file as `{command}`")
    box.download_button("Download its JSON twin", data=lambda: build()[1],
                        file_name=Path(name).with_suffix(".json").name, mime="application/json",
                        key=f"{key}_json", on_click="ignore", type="tertiary")


def compare_report_ui(baseline: str, others: Sequence[str], *, on: str = "") -> None:
    """Sidebar: the report of one compared run (picked when there are several), with
    the baseline as its comparison, on the faces the page compares."""
    reported = others[0] if len(others) == 1 else st.sidebar.selectbox(
        "Report on", others, key="compare_report_run", help="The run the audit report is about; "
        "the baseline is its comparison")
    download_report_ui(resolve_run(reported).run_dir, on=on or None,
                       compare=[resolve_run(baseline).run_dir], key="compare_report")
