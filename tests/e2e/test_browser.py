"""A user's path through the dashboard, in real Chromium.

Dataset (before/after charts react to the balance attribute) → Train (start a tiny
run, watch it reach the end) → Evaluate (confusion matrices and per-group charts for
that run, its audit report downloaded) → Explain (a saliency overlay). One screenshot per page is saved under
artifacts/e2e/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkit.config import DEFAULTS
from tests.helpers.browser import TIMEOUT_MS, fill_number, goto, settle, shoot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Finds a Plotly chart in the DOM by its title (Streamlit wraps titles in <b>).
FIND_CHART = """(title) => Array.from(document.querySelectorAll('.js-plotly-plot')).find(
    el => ((el.layout && el.layout.title && el.layout.title.text) || '').replace(/<[^>]+>/g, '') === title)"""


CHART_KINDS = ("Array.from(document.querySelectorAll('.js-plotly-plot'))"
               ".filter(el => el._fullData).map(el => el._fullData[0].type)")


def chart_traces(page, title):
    """name -> y values of the Plotly chart whose title is ``title``, once it is drawn
    (Plotly draws after the script has finished)."""
    page.wait_for_function(f"(title) => !!({FIND_CHART})(title)", arg=title, timeout=TIMEOUT_MS)
    return page.evaluate(
        f"""(title) => {{
            const el = ({FIND_CHART})(title);
            if (!el) return null;
            const out = {{}};
            for (const tr of el._fullData) out[tr.name] = Array.from(tr.y);
            return out;
        }}""", title)


def choose(page, label, option):
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def test_dataset_page_before_after_charts_follow_the_balance_attribute(dashboard, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    goto(page, dashboard, "")
    page.locator(".js-plotly-plot").nth(2).wait_for(timeout=TIMEOUT_MS)
    by_age = chart_traces(page, "Race")
    assert by_age and 0 < sum(by_age["before"]) < 240  # the train split of the 240 faces
    # The page opens at train's defaults (no rebalancing): after == before.
    assert by_age["after plan"] == by_age["before"]
    choose(page, "Rebalance", "race")
    page.wait_for_function(
        f"""([title, old]) => {{
            const el = ({FIND_CHART})(title);
            return !!el && JSON.stringify(Array.from(el._fullData[1].y)) !== JSON.stringify(old);
        }}""", arg=["Race", by_age["after plan"]], timeout=TIMEOUT_MS)
    by_race = chart_traces(page, "Race")
    top = max(by_race["before"])
    k = DEFAULTS.max_repeat  # the page starts at train's plan settings
    assert by_race["after plan"] == [max(n, min(top, k * n)) for n in by_race["before"]]
    assert page.locator("[data-testid='stImage'] img").count() >= 6  # faces and augmented variants
    shoot(page, "page_dataset")
    page.close()


def test_train_evaluate_explain_a_tiny_run(dashboard, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    # Train: a tiny run on the synthetic default, started from the form.
    goto(page, dashboard, "train")
    fill_number(page, "Use at most N images (0 = all)", 160)
    fill_number(page, "Epochs", 2)
    fill_number(page, "Batch size", 32)
    page.get_by_role("button", name="Start training").click()
    settle(page)
    # The live panel redraws itself every few seconds; wait for the end state.
    page.get_by_text("Epoch 2/2", exact=False).first.wait_for(timeout=240_000)
    page.get_by_text("finished", exact=False).first.wait_for(timeout=240_000)
    settle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
    shoot(page, "page_train")

    # Evaluate: the run's confusion matrices and per-group charts.
    page.set_viewport_size({"width": 1400, "height": 1000})
    goto(page, dashboard, "evaluate")
    # Charts draw one by one after the script ends: wait for the kinds, not a count.
    page.wait_for_function(f"""() => {{ const kinds = {CHART_KINDS};
        return kinds.filter(k => k === 'heatmap').length >= 3 && kinds.includes('bar'); }}""",
                           timeout=TIMEOUT_MS)
    shoot(page, "page_evaluate")
    # The sidebar's report button downloads the run's audit report, built on the click.
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.get_by_role("button", name="Download report").click()
    saved = download.value
    assert saved.suggested_filename.startswith("audit-") and saved.suggested_filename.endswith(".html")
    report = Path(saved.path()).read_text(encoding="utf-8")
    assert report.startswith("<!DOCTYPE html>") and 'id="headline"' in report

    # Explain: a saliency overlay for a face of the run's evaluation set.
    page.set_viewport_size({"width": 1400, "height": 1000})
    goto(page, dashboard, "explain")
    page.locator("[data-testid='stImage'] img").nth(1).wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("Grad-CAM", exact=False).count() >= 1
    shoot(page, "page_explain")
    page.close()
