"""Reviewing suspect labels in real Chromium, then training with the decisions.

A tiny run trained on 400 real UTKFace faces and ranked (tests/helpers/curation_run.py) sits
in the server's runs root. Review: keep the first suspect, use the suggestion on the
next, exclude the one after; the counters follow each click and the corrections file
holds the three decisions. Train: the form's "Apply my label decisions" box is ticked
by default, and the run it starts trains with that file. Screenshots under
artifacts/e2e/ (review_*.png).
"""

from __future__ import annotations

import pytest

from modelkit import runs
from modelkit.curation import corrections as cx
from modelkit.curation import ranking
from tests.helpers.browser import serve_dashboard, settle, shoot, stop_runs
from tests.helpers.curation_run import copy_into, tiny_config, trained_run
from tests.helpers.fake_trainer import FAKE_TRAINER_PATH
from tests.helpers.samples import UTKFACE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A dashboard whose runs root holds the ranked tiny run; started runs train with
    the stand-in trainer (the test is about what they are given, not the training)."""
    work = tmp_path_factory.mktemp("e2e-review")
    run_dir = copy_into(trained_run(tmp_path_factory.getbasetemp()), work / "runs")
    with serve_dashboard(work, log_name="server_review.log", PYTHONPATH=str(FAKE_TRAINER_PATH),
                         FAKE_BATCH_S="0.5") as base:
        yield base, work / "runs", run_dir
    stop_runs(work / "runs")


METRICS_JS = """() => Object.fromEntries(Array.from(
    document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
        m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
        parseInt(m.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, ''))]))"""


def metrics(page) -> dict[str, int]:
    return page.evaluate(METRICS_JS)


def click(page, name, *, until: dict[str, int]):
    """Click the first enabled ``name`` button, then wait for the counters to read
    ``until`` (the rerun the click starts may not have begun when the click returns)."""
    page.get_by_role("button", name=name, exact=True, disabled=False).first.click()
    page.wait_for_function(f"""(want) => {{ const got = ({METRICS_JS})();
        return Object.entries(want).every(([k, v]) => got[k] === v); }}""", arg=until,
                           timeout=TIMEOUT_MS)
    settle(page)


def test_review_three_suspects_then_train_with_the_decisions(server, browser):
    base, root, run_dir = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/review?run={run_dir.name}", wait_until="domcontentloaded")
    settle(page)
    page.locator("[data-testid='stImage'] img").first.wait_for(timeout=TIMEOUT_MS)
    start = metrics(page)
    assert start["Reviewed"] == 0 and start["Remaining"] >= 3, start
    widths = page.evaluate("Array.from(document.querySelectorAll(\"[data-testid='stImage'] img\"))"
                           ".map(img => img.getBoundingClientRect().width)")
    assert min(widths) >= 160  # large enough to judge an age

    click(page, "Keep", until={"Reviewed": 1, "Kept": 1})
    click(page, "Use suggestion", until={"Reviewed": 2, "Relabelled": 1})
    click(page, "Exclude", until={"Reviewed": 3, "Excluded": 1})
    end = metrics(page)
    assert (end["Reviewed"], end["Remaining"], end["Excluded"]) == (3, start["Remaining"] - 3, 1)
    assert page.get_by_role("button", name="Undo").count() == 3
    shoot(page, "review_gallery")
    file = cx.config_corrections_path(ranking.run_config(run_dir), runs_root=root)
    standing = cx.latest_decisions(cx.read_decisions(file))
    assert sorted(d.action for d in standing.values()) == ["exclude", "keep", "set"]

    # Train with them: the Train page's box is ticked by default for this dataset.
    page.goto(f"{base}/train", wait_until="domcontentloaded")
    settle(page)
    page.locator("summary:has-text('New run')").click()  # collapsed: the ranked run is listed
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="UTKFace", exact=True).click()
    settle(page)
    page.get_by_label("Dataset folder", exact=True).fill(str(UTKFACE))
    box = page.get_by_label("Use at most N images (0 = all)", exact=True)
    box.fill(str(tiny_config().limit))
    box.press("Tab")
    assert page.locator("label:has-text('Apply my label decisions') input[type='checkbox']").is_checked()
    page.get_by_role("button", name="Start training").click()
    settle(page)
    page.get_by_text("Training with the label decisions", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    started = [r for r in runs.list_runs(runs_root=root) if r.id != run_dir.name]
    assert len(started) == 1 and started[0].config["corrections"] == str(file)
    shoot(page, "review_train")
    page.close()
