"""The "Download report" buttons of the Evaluate and Compare pages (AppTest): they are
there for what the page shows, and what they download is the report the command
writes for the same run."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.report_view import report_files
from modelkit.__main__ import main
from tests.helpers.compare_runs import write_run as write_compare_run
from tests.helpers.evaluate_page import PAGE, REPO, write_run
from tests.helpers.predictions import make_predictions, random_rows

COMPARE_PAGE = str(REPO / "pages" / "compare.py")


def render(page: str) -> AppTest:
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def buttons(at: AppTest) -> dict[str, object]:
    return {b.proto.label: b.proto for b in at.get("download_button")}


def without_time(twin: str) -> dict:
    """A twin less what differs between two writes: the time and the --out path."""
    twin = json.loads(twin)
    del twin["report"]["made_by"]["time"]
    twin["report"]["command"] = twin["report"]["command"].rsplit(" --out ", 1)[0]
    return twin


def test_evaluate_offers_the_report_the_command_writes(runs_root, tmp_path):
    folder = write_run(runs_root, "run-a", make_predictions())
    at = render(PAGE)
    shown = buttons(at)
    assert set(shown) == {"Download report", "Download its JSON twin"}
    assert "python -m modelkit report --run-dir" in shown["Download report"].help
    assert "--out audit-run-a.html" in shown["Download report"].help  # the file it downloads
    page, twin = report_files(str(folder), (), (), (0,))
    assert main(["report", "--run-dir", str(folder), "--out", str(tmp_path / "audit-run-a.html")]) == 0
    assert without_time(twin) == without_time((tmp_path / "audit-run-a.json").read_text())
    assert page.startswith("<!DOCTYPE html>") and "Audit report: run-a" in page


@pytest.mark.slow
def test_compare_offers_the_compared_runs_report_against_the_baseline(runs_root):
    rows = random_rows(300, seed=1)
    write_compare_run(runs_root, "a-base", make_predictions(rows, []))
    write_compare_run(runs_root, "b-new", make_predictions(rows, [], seed=2), config={"balance": "race"})
    at = render(COMPARE_PAGE)
    at.selectbox(key="compare_baseline").set_value("a-base")
    at.multiselect(key="compare_runs").set_value(["b-new"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    help_text = buttons(at)["Download report"].help
    assert "--run-dir" in help_text and "b-new" in help_text and "--compare" in help_text
    page, twin = report_files(str(runs_root / "b-new"), (), (str(runs_root / "a-base"),), (0,))
    comparison = json.loads(twin)["comparisons"][0]["comparison"]
    assert comparison["runs"][0]["id"] == "b-new" and comparison["baseline"]["id"] == "a-base"
