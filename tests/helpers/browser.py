"""The dashboard served for real, for the browser tests, and waits on its pages.

``serve_dashboard`` runs `streamlit run app.py` on a free 127.0.0.1 port with its own
runs root and cache, so a test never touches the user's files; a test that needs a
server no page has been requested from yet (a fresh one) starts its own with it
(tests/e2e/conftest.py's ``dashboard`` fixture is one shared by a module). Waits are on
what the page shows (Streamlit's app root reports its connection and script state),
never on fixed sleeps or `networkidle`: the websocket never idles.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FACESCOPE_E2E_ARTIFACTS", REPO / "artifacts" / "e2e"))
# A wait on one element of a page that has settled.
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_dashboard(work: Path, *, log_name: str = "server.log", port: int | None = None,
                    args: tuple[str, ...] = (), **env: str):
    """Run ``streamlit run app.py`` on a free 127.0.0.1 port (or ``port``), with Streamlit
    options ``args`` on top; yield its base URL.

    The server gets its own runs root and cache under ``work``, and ``env`` on top.
    Readiness is polled on ``/_stcore/health`` only. That request opens no session, so
    the caller's first page request is the first one the server sees. The log goes
    to ``ARTIFACTS / log_name``, beside the screenshots.
    """
    port = port or free_port()
    env = {**os.environ, "FACESCOPE_RUNS_ROOT": str(work / "runs"), "FACESCOPE_CACHE_DIR": str(work / "cache"),
           "PYTHONUNBUFFERED": "1", **env}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / log_name, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false", *args],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the dashboard did not start; see {ARTIFACTS / log_name}")
            time.sleep(0.2)  # polling the health endpoint, bounded by the deadline above
        try:
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


# Waits on a page of the dashboard: the server's first script runs load TensorFlow.
SETTLE_MS = 180_000


def settle(page, timeout: float = SETTLE_MS) -> None:
    """Wait until the app is connected and its script (not only a fragment) has finished."""
    for state in ("connection-state='CONNECTED'", "script-state='notRunning'"):
        page.locator(f"[data-testid='stApp'][data-test-{state}]").wait_for(state="attached",
                                                                          timeout=timeout)


VIEWPORT = {"width": 1400, "height": 1000}
IMAGES_LOADED = "Array.from(document.images).every(img => img.complete && img.naturalWidth > 0)"


def shoot(page, name: str, timeout: float = SETTLE_MS) -> None:
    """Screenshot the whole page to ``ARTIFACTS/NAME.png``. Streamlit scrolls inside its
    main area, so the viewport is grown to the content's height first (and put back
    after); thumbnails arrive through the media endpoint after the script ends, so the
    shot waits for every image too."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 40, 8000)})
    settle(page, timeout)
    page.wait_for_function(IMAGES_LOADED, timeout=timeout)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(VIEWPORT)


def stop_runs(runs_root: Path, *, timeout: float = 60) -> None:
    """Cancel the runs a test left queued or running under ``runs_root``, and wait."""
    from modelkit import runs

    runs.reconcile(runs_root=runs_root)
    for run in runs.list_runs(runs_root=runs_root):
        if run.state == "queued" or run.is_active:
            runs.cancel(run.id, runs_root=runs_root)
            runs.wait(run.id, runs_root=runs_root, timeout=timeout)


def goto(page, base, name):
    """Open the page ``name`` of the dashboard at ``base`` and wait until it settled."""
    page.goto(f"{base}/{name}", wait_until="domcontentloaded")
    settle(page)


def fill_number(page, label, value):
    """Type ``value`` into the number input labelled ``label`` (Tab commits it)."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")
