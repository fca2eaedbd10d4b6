"""A remedy experiment in real Chromium: started from the Train page, run to the end,
opened preselected on the Compare page.

Train (tiny real runs on the synthetic default: 240 faces, one epoch, balance by race,
"Also train a control run" with its default, no balancing) → the experiment box
follows both runs until they finish → its "Open in Compare" button opens
``/compare?baseline=<control>&runs=<run as configured>`` with both picked and the
comparison drawn. Screenshots under artifacts/e2e/ (experiment_*.png).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from modelkit import runs
from tests.helpers.browser import serve_dashboard, settle, shoot, stop_runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 120_000
RUNS_TIMEOUT_MS = 20 * 60_000  # two real runs one after the other, on a shared CPU


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A dashboard of its own, so the test knows its runs root (and cleans it up)."""
    work = tmp_path_factory.mktemp("e2e-experiment")
    with serve_dashboard(work, log_name="server_experiment.log",
                         FACESCOPE_SYNTHETIC_N="240") as base:
        yield base, work / "runs"
    stop_runs(work / "runs")


def fill_number(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")


def test_an_experiment_from_the_train_page_opens_preselected_in_compare(server, browser):
    base, root = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/train", wait_until="domcontentloaded")
    settle(page)

    fill_number(page, "Epochs", 1)
    fill_number(page, "Batch size", 32)
    page.get_by_role("combobox", name="Balance").click()
    page.get_by_role("option", name="race", exact=True).click()
    page.get_by_text("Also train a control run", exact=True).click()
    page.get_by_role("button", name="Start training").click()
    settle(page)
    page.get_by_text(re.compile(r"Experiment exp-")).first.wait_for(timeout=TIMEOUT_MS)
    found = {r.experiment_role: r for r in runs.list_runs(runs_root=root)}
    assert set(found) == {"treatment", "control"}, found
    treatment, control = found["treatment"], found["control"]
    assert treatment.experiment == control.experiment
    assert (treatment.config["balance"], control.config["balance"]) == ("race", "none")
    assert treatment.config["seed"] == control.config["seed"]
    shoot(page, "experiment_started")

    # The box redraws itself; Compare opens once both runs have finished.
    compare = page.locator("button", has_text="Open in Compare")
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('button')).some(
               b => b.innerText.includes('Open in Compare') && !b.disabled)""",
        timeout=RUNS_TIMEOUT_MS)
    states = {r.experiment_role: r.state for r in runs.list_runs(runs_root=root)}
    assert states == {"treatment": "finished", "control": "finished"}, states
    shoot(page, "experiment_finished")

    compare.filter(visible=True).and_(page.locator("button:enabled")).first.click()
    page.wait_for_url(re.compile(r"/compare\?"), timeout=TIMEOUT_MS)
    settle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query == {"baseline": [control.id], "runs": [treatment.id]}, page.url
    try:
        page.get_by_role("heading", name="What differs").wait_for(timeout=3 * TIMEOUT_MS)
    except Exception:
        shoot(page, "experiment_compare_failed")  # what the page showed instead
        raise
    baseline = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has_text="Baseline").first
    assert control.id in baseline.inner_html()  # the picked value (the text is an input's)
    picked = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    assert treatment.id in picked.inner_text()
    assert page.get_by_text("balance", exact=False).count() >= 1  # the one setting that differs
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
    shoot(page, "experiment_compare")
    page.close()
