"""app.py routes with st.navigation even when the first request is a deep link.

Streamlit 1.67 treats an app with a ``pages/`` folder beside its main script as a
legacy pages-folder app until some script calls st.navigation (see the comment in
app.py). These tests pin the Streamlit behaviour the fix relies on, so an upgrade
that changes it fails here. They also check that ``streamlit run app.py`` serves the
st.App whose start-up hook turns that mode off. tests/e2e/test_deep_link.py checks
the result in a browser.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.web.server.app_discovery import discover_asgi_app

REPO = Path(__file__).resolve().parents[1]


def test_streamlit_run_serves_the_st_app_defined_in_app_py():
    found = discover_asgi_app(REPO / "app.py")
    assert found.is_asgi_app and found.app_name == "app", (
        "`streamlit run app.py` must find `app = st.App(...)` in app.py, or its start-up hook "
        f"never runs; discovery returned {found}")


@pytest.mark.slow
def test_the_start_up_hook_keeps_every_later_session_off_the_legacy_pages_folder():
    # In a fresh interpreter: importing app.py outside a script run is what uvicorn does
    # when `streamlit run app.py` starts, and the class flag is process-wide.
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(REPO)!r})
        from streamlit.runtime.pages_manager import PagesManager

        main = {str(REPO / "app.py")!r}
        PagesManager(main)  # the first session of a server with no start-up hook
        before = PagesManager.uses_pages_directory

        PagesManager.uses_pages_directory = None  # a fresh server again
        import app

        async def start():
            async with app._navigation_not_pages_folder(app.app):
                PagesManager(main)  # the first session, after the hook ran
        asyncio.run(start())
        print(before, PagesManager.uses_pages_directory)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()[-2:]
    assert before == "True", (
        "Streamlit no longer flags an app with a pages/ folder as a legacy app; "
        "the start-up hook in app.py may no longer be needed")
    assert after == "False", "a session after start-up would run pages/*.py without app.py"
