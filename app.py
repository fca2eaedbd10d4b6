"""FaceScope dashboard: ``streamlit run app.py``.

This file is read two ways. ``streamlit run`` finds ``app = st.App(...)`` below and
serves it: uvicorn imports the file once at server start, outside any script run.
Each browser session then runs the file as the Streamlit script. It only sets the
page up and routes; each page lives in ``pages/``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import signin

PAGES = (  # (file, title, icon): the URL is the file's stem (/dataset, /train, ...)
    ("pages/dataset.py", "Dataset", ":material/dataset:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/runs.py", "Runs", ":material/list:"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/evaluate.py", "Evaluate", ":material/analytics:"),
    ("pages/explain.py", "Explain", ":material/visibility:"),
    ("pages/review.py", "Review", ":material/fact_check:"),
)


# Why a startup hook (a deep link on a fresh server opened another app).
# Streamlit 1.67 decides once per process whether this is a legacy "pages/ folder"
# app. When it builds the first session's PagesManager it sets the class flag
# `uses_pages_directory` to whether a `pages/` folder sits next to the main script.
# Only a call to st.navigation clears it. While the flag is set, ScriptRunner runs
# `_mpa_v1` instead of this script: it lists pages/*.py plus app.py and runs the
# requested page on its own. So if the first request after a start was a deep link
# (/explain), app.py never ran: no set_page_config (wide layout, title, icons), and
# the sidebar listed "app, dataset, evaluate, explain, runs, train". A visit to "/"
# ran app.py, and its st.navigation cleared the flag for the rest of the process.
# No config option turns this off. How the pages are registered cannot help either,
# because the flag only checks that the folder exists; `client.showSidebarNavigation`
# would only hide the sidebar. `pages/` must stay where it is, so the flag is cleared
# here when the server starts, before any session, in st.App's lifespan. That is the
# startup hook `streamlit run` offers. tests/test_app_routing.py checks that the flag
# still exists, and tests/e2e/test_deep_link.py opens a deep link on a fresh server.
@asynccontextmanager
async def _navigation_not_pages_folder(_app: st.App):
    """Tell Streamlit this app routes with st.navigation, not the legacy pages/ folder;
    say in the log whether this server serves without sign-in."""
    PagesManager.uses_pages_directory = False
    signin.log_mode_at_start()
    yield


def route() -> None:
    """The script each session runs: page config first, the sign-in gate (which shows
    only itself until the visitor may see data), then the requested page."""
    st.set_page_config(page_title="FaceScope", page_icon=":material/face:", layout="wide")
    if signin.gate() is None:
        return  # no st.navigation: a deep link shows the gate's screen and nothing else
    pages = [st.Page(path, title=title, icon=icon, default=index == 0)
             for index, (path, title, icon) in enumerate(PAGES)]
    st.navigation(pages).run()


if get_script_run_ctx(suppress_warning=True) is None:
    # uvicorn imports this file at server start, so no script run is active yet.
    app = st.App(__file__, lifespan=_navigation_not_pages_folder)
else:
    route()
