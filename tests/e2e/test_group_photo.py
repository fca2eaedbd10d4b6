"""A group photo on the Explain page, in real Chromium: numbered boxes, a face picked,
its predictions and saliency maps.

The photo is made here by pasting two FairFace sample faces onto one canvas (no outside
photo). A tiny run (one epoch on a small synthetic set) is trained with the command
line before the dashboard starts, in the server's own runs root. Screenshots go under
artifacts/e2e/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.browser import ARTIFACTS, REPO, serve_dashboard, settle
from tests.helpers.samples import FAIRFACE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 180_000


def group_photo(path: Path) -> Path:
    """Two sample faces on a grey 640 x 400 canvas, the second one smaller."""
    canvas = Image.new("RGB", (640, 400), (118, 124, 130))
    for name, (x, y, side) in (("train/170.jpg", (60, 100, 200)), ("val/12.jpg", (380, 120, 180))):
        canvas.paste(Image.open(FAIRFACE / name).convert("RGB").resize((side, side)), (x, y))
    canvas.save(path, quality=95)
    return path


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    """A dashboard whose runs root holds one tiny trained run."""
    work = tmp_path_factory.mktemp("e2e_photo")
    env = {**os.environ, "FACESCOPE_RUNS_ROOT": str(work / "runs"),
           "FACESCOPE_CACHE_DIR": str(work / "cache"), "FACESCOPE_SYNTHETIC_N": "120"}
    subprocess.run([sys.executable, "-m", "modelkit", "train", "--source", "synthetic",
                    "--limit", "96", "--epochs", "1", "--image-size", "32", "--batch-size", "32",
                    "--run-dir", str(work / "runs" / "tiny")],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    with serve_dashboard(work, log_name="server_group_photo.log", FACESCOPE_SYNTHETIC_N="120") as base:
        yield base, work


def images_loaded(page):
    page.wait_for_function("Array.from(document.images).every(img => img.complete && img.naturalWidth > 0)",
                           timeout=TIMEOUT_MS)


def test_a_group_photo_shows_numbered_boxes_and_the_picked_face_s_maps(served_run, browser):
    base, work = served_run
    photo = group_photo(work / "group.jpg")
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{base}/explain", wait_until="domcontentloaded")
    settle(page)
    page.locator("[data-testid='stRadio'] label").filter(has_text="Upload").click()
    settle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))

    page.get_by_text("group.jpg: 2 face(s) found", exact=False).wait_for(timeout=TIMEOUT_MS)
    settle(page)
    radio = page.locator("[data-testid='stRadio']").filter(has_text="Face to explain")
    assert radio.locator("label").all_inner_texts()[-2:] == ["Face 1", "Face 2"]
    page.get_by_text("group.jpg · face 1 (aligned)").wait_for(timeout=TIMEOUT_MS)
    for head in ("Gender", "Race", "Age"):  # one saliency overlay per head
        page.get_by_text(f"{head} · Grad-CAM").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("predicted", exact=False).count() >= 3
    images_loaded(page)
    assert page.locator("[data-testid='stImage'] img").count() >= 5  # photo, face, 3 maps
    page.screenshot(path=str(ARTIFACTS / "explain_group_photo_face1.png"), full_page=True)

    boxes = np.asarray(Image.open(ARTIFACTS / "explain_group_photo_face1.png").convert("RGB"))
    assert (np.abs(boxes.astype(int) - (0, 200, 255)).sum(axis=-1) < 30).sum() > 200  # the picked box

    radio.locator("label").filter(has_text="Face 2").click()
    settle(page)
    page.get_by_text("group.jpg · face 2 (aligned)").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Gender · Grad-CAM").wait_for(timeout=TIMEOUT_MS)
    images_loaded(page)
    page.screenshot(path=str(ARTIFACTS / "explain_group_photo_face2.png"), full_page=True)
    page.close()
