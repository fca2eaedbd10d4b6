"""The fixtures of the browser tests: a real dashboard server and a real Chromium.

The server and the waits on its pages are tests/helpers/browser.py's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.browser import CHROMIUM, serve_dashboard, stop_runs


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """Base URL of a running dashboard with a small synthetic default dataset."""
    work = tmp_path_factory.mktemp("e2e")
    with serve_dashboard(work, FACESCOPE_SYNTHETIC_N="240") as base:
        yield base
    # Training runs live in their own sessions and outlive the server: if the test
    # stopped half-way, cancel what is still going so nothing runs on after pytest.
    stop_runs(work / "runs")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()
