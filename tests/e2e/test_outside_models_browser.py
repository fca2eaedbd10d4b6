"""Auditing a model FaceScope did not train, from the pages, in real Chromium.

A tiny UTKFace run is in the server's runs root, already predicted on 60 FairFace
faces (evaluation set ``ff``). The test adds dlib's reference models on the Runs page,
picks dlib-gender on the Evaluate page (which says it has no split of its own and
offers the form), predicts it on the same 60 faces from the form, sees an occlusion
map of one of them on the Explain page, then compares it with the run on that
evaluation set on the Compare page. Screenshots: artifacts/e2e/.
"""

from __future__ import annotations

import pytest

from modelkit.prediction import PredictRequest
from modelkit.prediction.dataset import predict_dataset
from tests.helpers.browser import TIMEOUT_MS, fill_number, goto, serve_dashboard, settle, shoot, stop_runs
from tests.helpers.samples import FAIRFACE
from tests.helpers.tiny_run import copy_run, trained_tiny_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_ID = "20260101-000000-tinyrn"
FACES = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e-outside")
    run = copy_run(trained_tiny_run(tmp_path_factory.getbasetemp()), work / "runs" / RUN_ID)
    predict_dataset(PredictRequest(run_dir=str(run), source="fairface", root=str(FAIRFACE),
                                   limit=FACES, name="ff"))
    with serve_dashboard(work, log_name="server_outside.log",
                         FACESCOPE_DATA_ROOTS=str(FAIRFACE.parent)) as base:
        yield base
    stop_runs(work / "runs")


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the sidebar selectbox labelled ``label``."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text=label).first
    box.get_by_role("button", name="Open").click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def test_add_dlib_predict_it_and_compare_it_with_a_run_from_the_pages(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    goto(page, server, "runs")
    page.get_by_role("button", name="Add dlib's reference models (gender, age)").click()
    settle(page)
    page.get_by_text("Registered dlib-gender and dlib-age.").wait_for(timeout=TIMEOUT_MS)
    goto(page, server, "runs")  # the table lists them on the next visit
    # The models table: the audit log's table below it sits in a closed expander.
    table = page.locator("[data-testid='stDataFrame']:visible").last
    table.wait_for(timeout=TIMEOUT_MS)
    shoot(page, "page_runs_outside_models")

    goto(page, server, "evaluate")
    pick(page, "Run", "dlib-gender · outside model")
    page.get_by_text("is an outside model (onnx; heads: gender)", exact=False).wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("textbox", name="Dataset folder").fill(str(FAIRFACE))
    fill_number(page, "Use at most N images (0 = all)", FACES)
    page.get_by_role("textbox", name="Name of the evaluation set").fill("ff")
    page.get_by_role("button", name="Predict", exact=True).click()
    settle(page)
    page.get_by_text("Evaluating on ff", exact=False).first.wait_for(timeout=400_000)
    settle(page)
    page.get_by_text("Confusion matrices").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stException']").count() == 0
    shoot(page, "page_evaluate_outside_model")

    goto(page, server, "explain")  # no gradients: an occlusion map of one of its faces
    pick(page, "Run", "dlib-gender · outside model")
    page.get_by_text("Gender · occlusion, explaining", exact=False).wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stMain'] [data-testid='stImage']").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    shoot(page, "page_explain_outside_model")

    goto(page, server, "compare")
    pick(page, "Faces", "evaluation set ff")
    pick(page, "Baseline", RUN_ID)
    page.get_by_text(f"dlib-gender: {FACES} shared faces", exact=False).wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="By group").wait_for(timeout=TIMEOUT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stException']").count() == 0
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "no race head" in text and "evaluation set ff" in text
    shoot(page, "page_compare_outside_model")
    page.close()
