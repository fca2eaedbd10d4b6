"""Sign-in for a team, for real: Streamlit's st.login against a real OpenID provider
(oidc-provider-mock, on localhost), an access file, and Chromium.

The provider's login form takes any subject; it becomes the e-mail claim, so typing
``bob@lab.example`` signs in as Bob. Each person gets a browser context of their own
(their own cookies). Runs train with the fake trainer (tests/fake_trainer): this test is
about who may start them, not about training.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from modelkit import access, runs
from tests.helpers.browser import ARTIFACTS, REPO, VIEWPORT, free_port, serve_dashboard, settle, stop_runs
from tests.helpers.fake_trainer import FAKE_TRAINER_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCESS = """
[users]
"bob@lab.example" = "trainer"
"vera@lab.example" = "viewer"
"""
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A dashboard behind sign-in: (base URL, runs root, provider URL, access list)."""
    oidc = pytest.importorskip("oidc_provider_mock")
    work = tmp_path_factory.mktemp("signin")
    (work / "access.toml").write_text(ACCESS)
    port = free_port()
    with oidc.run_server_in_thread() as provider:
        issuer = f"http://localhost:{provider.server_port}"
        (work / "secrets.toml").write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(16)}"\n'
            'client_id = "facescope"\nclient_secret = "test-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n')
        with serve_dashboard(work, log_name="server_signin.log", port=port,
                             args=(f"--secrets.files={work / 'secrets.toml'}",),
                             FACESCOPE_ACCESS_FILE=str(work / "access.toml"),
                             FACESCOPE_SYNTHETIC_N="240", FAKE_BATCH_S="0.05",
                             PYTHONPATH=str(FAKE_TRAINER_PATH)) as base:
            yield base, work / "runs", issuer, access.load_access_list(work / "access.toml")
        stop_runs(work / "runs")


def open_as(browser, base: str, issuer: str, email: str, path: str = ""):
    """A new browser context that opens ``path``, signs in as ``email``, and opens
    ``path`` again (Streamlit lands a sign-in on the app's first page)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base}/{path}", wait_until="domcontentloaded")
    settle(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{issuer}/**", timeout=TIMEOUT_MS)
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{base}/**", timeout=TIMEOUT_MS)
    settle(page)
    if path:
        page.goto(f"{base}/{path}", wait_until="domcontentloaded")
        settle(page)
    return page


def nav_links(page) -> int:
    return page.locator("[data-testid='stSidebarNavLink']").count()


def test_an_anonymous_deep_link_gets_only_the_sign_in_screen(team, browser):
    base, root, _, _ = team
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base}/evaluate", wait_until="domcontentloaded")
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "signin_anonymous.png"))
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert nav_links(page) == 0  # no navigation, so no page names
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "Evaluate" not in text and "Sign in to see the runs" in text
    page.context.close()


def test_a_stranger_signs_in_and_is_not_allowed(team, browser):
    base, _, issuer, _ = team
    page = open_as(browser, base, issuer, "mallory@elsewhere.example")
    page.screenshot(path=str(ARTIFACTS / "signin_stranger.png"))
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "Not allowed" in text and "mallory@elsewhere.example is not allowed" in text
    assert nav_links(page) == 0
    page.context.close()


def test_a_trainer_signs_in_and_starts_a_run_that_names_them(team, browser):
    base, root, issuer, _ = team
    page = open_as(browser, base, issuer, "bob@lab.example", "train")
    assert "Signed in as bob@lab.example" in page.locator("[data-testid='stSidebar']").inner_text()
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("is running").or_(page.get_by_text("is queued")).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "signin_trainer_started.png"))
    (run,) = runs.list_runs(runs_root=root)
    shown = subprocess.run([sys.executable, "-m", "modelkit", "runs", "show", run.id, "--json",
                            "--runs-root", str(root)], cwd=REPO, capture_output=True, text=True,
                           check=True)
    assert json.loads(shown.stdout)["started_by"] == "bob@lab.example"
    assert ("bob@lab.example", "run.start", run.id, "ok") in [
        (x["user"], x["action"], x["target"], x["result"]) for x in access.read_audit(root)]
    page.context.close()


def test_a_viewer_sees_the_runs_has_no_start_button_and_is_refused_a_direct_start(team, browser):
    base, root, issuer, people = team
    page = open_as(browser, base, issuer, "vera@lab.example", "runs")
    started = runs.list_runs(runs_root=root)
    assert started, "the trainer's test starts a run first"
    # The table is a canvas; its accessible copy (for screen readers) holds the cells.
    table = page.locator("[data-testid='stDataFrame']").first
    table.get_by_text(started[0].id).first.wait_for(state="attached", timeout=TIMEOUT_MS)
    table.get_by_text("bob@lab.example").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "signin_viewer_runs.png"))
    page.goto(f"{base}/train", wait_until="domcontentloaded")
    settle(page)
    assert page.get_by_role("button", name="Start training").count() == 0
    assert "cannot do this; run.start needs trainer" in page.locator("[data-testid='stMain']").inner_text()
    vera = people.actor("vera@lab.example")
    with pytest.raises(access.AccessDenied, match="viewer"):
        runs.start_run({"epochs": 1}, runs_root=root, actor=vera)
    page.context.close()
