"""The Compare page in real Chromium: a link opens it preselected, the charts draw
without an exception, the URL follows the pickers. Screenshots go to
artifacts/e2e/ (compare_*.png), at the 1400 x 1000 the issue asks to read it at."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.browser import ARTIFACTS, serve_dashboard, settle
from tests.helpers.compare_runs import write_run
from tests.helpers.predictions import make_predictions, random_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 180_000


def pick(page, selectboxes, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``, as a user clicks it."""
    box = selectboxes.filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.get_by_role("button", name="Open").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_link_opens_the_compare_page_preselected_and_readable(tmp_path, browser):
    rows = random_rows(600, seed=4)
    base = make_predictions(rows, [])
    better = base.copy()
    better.loc[better["race_true"] == "Others", "race_pred"] = "Others"
    write_run(tmp_path / "runs", "a-base", base)
    write_run(tmp_path / "runs", "b-balanced", better, config={"balance": "race"})
    write_run(tmp_path / "runs", "c-weighted", make_predictions(rows, [], seed=2),
              config={"loss_weights": {"gender": 1.0, "race": 2.0, "age": 1.0}})
    with serve_dashboard(tmp_path, log_name="server_compare.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/compare?baseline=a-base&runs=b-balanced,c-weighted", wait_until="domcontentloaded")
        settle(page)
        page.get_by_role("heading", name="By group").wait_for(timeout=TIMEOUT_MS)
        # Plotly draws in the browser after the script has finished (its bundle loads
        # lazily; CI once counted 0 charts under a finished script): wait for the second.
        page.locator(".js-plotly-plot").nth(1).wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(ARTIFACTS / "compare_top.png"))
        assert page.locator("[data-testid='stException']").count() == 0
        sidebar = page.locator("[data-testid='stSidebar']")
        picked = sidebar.locator("[data-testid='stSelectbox']").filter(has_text="Baseline").first
        assert "a-base" in picked.inner_text() + " ".join(
            picked.locator("input").evaluate_all("els => els.map(e => e.value)"))
        chips = sidebar.locator("[data-testid='stMultiSelect']").inner_text()
        assert "b-balanced" in chips and "c-weighted" in chips
        assert page.locator(".js-plotly-plot").count() >= 2  # the dumbbells and the gaps, at least

        pick(page, page.locator("[data-testid='stMain'] [data-testid='stSelectbox']"), "Groups of", "Age group")
        # settle() alone may return before the rerun for the new grouping has started (CI
        # saw the old chart detached under it): wait for the chart to show age groups.
        page.wait_for_function(
            """() => { const el = document.querySelector('.js-plotly-plot');
                return !!el && Array.from(el.querySelectorAll('g.ytick text'))
                    .some(t => t.textContent.startsWith('70+ (n=')); }""", timeout=TIMEOUT_MS)
        settle(page)
        chart = page.locator(".js-plotly-plot").first
        chart.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare_age_groups.png"))
        ticks = chart.locator("g.ytick text").all_text_contents()  # SVG text: no innerText
        assert any(t.startswith("70+ (n=") for t in ticks), ticks

        pick(page, sidebar.locator("[data-testid='stSelectbox']"), "Baseline", "b-balanced")
        # The pick starts a rerun that rewrites the URL; "notRunning" alone may still be the
        # state from before the click, so wait for the URL itself.
        page.wait_for_url(lambda url: "baseline=b-balanced" in url, timeout=60_000)
        settle(page)
        query = parse_qs(urlsplit(page.url).query)
        assert query["baseline"] == ["b-balanced"] and "b-balanced" not in query.get("runs", [""])[0]
        assert page.locator("[data-testid='stException']").count() == 0
        page.close()
