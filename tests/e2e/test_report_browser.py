"""An audit report opened as a file in real Chromium with every network request
blocked: every chart draws, the page raises no console error, and its first screen
shows the model, the data, the headline figures with their intervals and the largest
gap (screenshots: artifacts/e2e/report_first_screen.png, report_full.png)."""

from __future__ import annotations

import pytest

from modelkit.__main__ import main
from tests.helpers.browser import ARTIFACTS
from tests.helpers.report_runs import report_runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 60_000


def test_the_report_opens_offline_and_every_chart_draws(tmp_path_factory, browser):
    work = tmp_path_factory.mktemp("report-browser")
    run, baseline = report_runs(tmp_path_factory.getbasetemp(), work, fairface_faces=40)
    out = work / "audit.html"
    assert main(["report", "--run-dir", str(run), "--on", "fairface", "--compare", str(baseline),
                 "--out", str(out)]) == 0
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, fetched = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_the_file(route):
        if route.request.url == out.as_uri():
            return route.continue_()
        fetched.append(route.request.url)
        return route.abort()

    page.route("**/*", only_the_file)
    page.goto(out.as_uri(), wait_until="load")
    charts = page.locator(".plotly-graph-div")
    n = charts.count()
    assert n >= 10  # balance, groups, confusion, age error, calibration, changes
    # Plotly has drawn a chart once its div holds the plot's SVG.
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
                      .every(div => div.querySelector('.main-svg') !== null)""",
        timeout=TIMEOUT_MS)
    assert [fetch for fetch in fetched if not fetch.startswith("data:")] == []
    assert errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report_first_screen.png"))
    first = page.locator("#summary").inner_text()
    assert "Model" in first and "Training data" in first and "Largest gap per head" in first
    assert page.locator("#headline").is_visible()
    page.screenshot(path=str(ARTIFACTS / "report_full.png"), full_page=True)
    page.close()
