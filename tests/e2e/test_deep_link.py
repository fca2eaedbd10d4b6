"""A bookmarked page, opened on a freshly started server, shows the FaceScope app.

Streamlit 1.67 used to run pages/<name>.py on its own when a fresh server's first
request was a deep link, and app.py never ran (see the comment in app.py). The tab
then said "evaluate", the layout was narrow and the sidebar listed "app, dataset,
...". This test starts its own server and makes /evaluate the first page it is
asked for. It checks only the navigation and the layout, not the page's content.
The Evaluate page shows its empty state with no runs. A screenshot is saved under
artifacts/e2e/.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers.browser import ARTIFACTS, serve_dashboard, settle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# app.py's navigation, in order, read from its PAGES (file, title, icon) without running it.
PAGES = ast.literal_eval(next(
    node.value for node in ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text()).body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PAGES"))
TITLES = [title for _, title, _ in PAGES]


@pytest.fixture
def fresh_dashboard(tmp_path):
    """A server that no page has been requested from yet, with an empty runs root."""
    with serve_dashboard(tmp_path, log_name="server_deep_link.log") as base:
        yield base


def test_a_deep_link_as_the_first_request_opens_the_app_with_its_navigation_and_layout(
        fresh_dashboard, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{fresh_dashboard}/evaluate", wait_until="domcontentloaded")
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "deep_link_evaluate.png"))

    links = page.locator("[data-testid='stSidebarNavLink']")
    labels = [links.nth(i).locator("span[label]").get_attribute("label") for i in range(links.count())]
    assert labels == TITLES, f"the sidebar is not app.py's navigation: {labels}"
    assert "app" not in [label.lower() for label in labels]
    paths = [urlsplit(links.nth(i).get_attribute("href")).path for i in range(links.count())]
    # the bookmarked URLs: the first page at /, the others at their file's stem
    assert paths == ["/"] + [f"/{Path(file).stem}" for file, _, _ in PAGES[1:]]
    current = page.locator("[data-testid='stSidebarNavLink'][aria-current='page'] span[label]")
    assert current.get_attribute("label") == "Evaluate"
    assert urlsplit(page.url).path == "/evaluate"

    # app.py's st.set_page_config ran: its title is on the tab and the layout is wide.
    assert "FaceScope" in page.title()
    assert page.locator("[data-testid='stAppViewContainer']").get_attribute("data-layout") == "wide"
    page.close()
