"""Evaluating a run on another dataset from the Evaluate page, in real Chromium.

A tiny model trained on real UTKFace faces is put in the server's runs root; the test
opens the Evaluate page, fills "Predict on another dataset" with the FairFace sample,
starts the prediction (a background job), sees it finish, and reads the per-group
figures by FairFace's own race classes. The screenshot goes to artifacts/e2e/.
"""

from __future__ import annotations

import pytest

from modelkit import labels
from tests.helpers.browser import TIMEOUT_MS, fill_number, goto, serve_dashboard, settle, shoot, stop_runs
from tests.helpers.samples import FAIRFACE
from tests.helpers.tiny_run import copy_run, trained_tiny_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_ID = "20260101-000000-tinyrn"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e-evalsets")
    copy_run(trained_tiny_run(tmp_path_factory.getbasetemp()), work / "runs" / RUN_ID)
    with serve_dashboard(work, log_name="server_eval_sets.log",
                         FACESCOPE_DATA_ROOTS=str(FAIRFACE.parent)) as base:
        yield base
    stop_runs(work / "runs")  # a job left running by a failed test stops


# A function in the page: the x labels of the by-group bar chart, or null.
BAR_X = """() => {
    const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(e => e._fullData && e._fullData[0].type === 'bar');
    return el ? Array.from(el._fullData[0].x) : null;
}"""


def bar_groups(page) -> list[str]:
    """The x labels of the by-group bar chart."""
    return page.evaluate(BAR_X)


def test_evaluate_a_run_on_the_fairface_sample_from_the_evaluate_page(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    goto(page, server, "evaluate")
    page.get_by_text("Predict on another dataset").first.click()
    page.get_by_role("textbox", name="Dataset folder").fill(str(FAIRFACE))
    fill_number(page, "Use at most N images (0 = all)", 80)
    page.get_by_role("textbox", name="Name of the evaluation set").fill("ff80")
    page.get_by_role("button", name="Predict", exact=True).click()
    settle(page)
    # The job's live panel follows it; when it finishes the page picks the new set.
    page.get_by_text("Evaluating on ff80", exact=False).first.wait_for(timeout=400_000)
    settle(page)
    page.get_by_text(f"{RUN_ID} on ff80 · test · 80 faces").first.wait_for(timeout=TIMEOUT_MS)
    # The list is long and drawn lazily: type to filter it, then pick.
    page.get_by_role("combobox", name="Group by").click()
    page.keyboard.type("own classes")
    page.get_by_role("option", name="Race (the set's own classes)", exact=True).click()
    settle(page)
    # The rerun for the new grouping may not have started when settle() returned: wait
    # for the chart to show it.
    page.wait_for_function(f"""(races) => {{ const x = ({BAR_X})();
        return x && x.length > 0 && x.every(g => races.includes(g)); }}""",
                           arg=list(labels.FAIRFACE_RACES), timeout=TIMEOUT_MS)
    groups = bar_groups(page)
    assert groups and set(groups) <= set(labels.FAIRFACE_RACES), groups
    assert "Asian" not in groups  # FairFace's classes, not the model's folded ones
    shoot(page, "page_evaluate_eval_set")
    page.close()
