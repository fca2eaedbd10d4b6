"""The audit log on the Runs page: who did what, newest first (``<runs root>/audit.jsonl``,
:mod:`modelkit.access.audit`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from modelkit import access, paths

SHOWN = 500  # the newest lines; the file holds them all
COLUMNS = ["time", "user", "role", "action", "target", "result", "detail"]


@st.cache_data(show_spinner=False, max_entries=4)
def _audit_table(root: str, size: int) -> pd.DataFrame:
    del size  # the cache key: the file only grows, so a new line changes it
    rows = access.read_audit(root)[-SHOWN:][::-1]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["time"] = pd.to_datetime(table["time"], utc=True, errors="coerce")
    return table


def audit_table(root=None) -> pd.DataFrame:
    """The newest :data:`SHOWN` lines of the audit log as a table, newest first."""
    root = paths.runs_root(root)
    try:
        size = (root / access.AUDIT_FILE).stat().st_size
    except OSError:
        size = 0
    return _audit_table(str(root), size)


def audit_ui() -> None:
    """An expander with the log, filterable by user and result."""
    table = audit_table()
    count = f"the newest {SHOWN:,}" if len(table) == SHOWN else \
        f"{len(table):,} action{'' if len(table) == 1 else 's'}"
    with st.expander(f"Who did what ({count})"):
        if table.empty:
            st.caption("Nothing yet: starting, cancelling, resuming or deleting a run, "
                       "deciding a label or adding a model writes a line here.")
            return
        left, right = st.columns(2)
        users = left.multiselect("User", sorted(table["user"].dropna().unique()), key="audit_users")
        results = right.multiselect("Result", list(access.audit.RESULTS), key="audit_results")
        shown = table
        if users:
            shown = shown[shown["user"].isin(users)]
        if results:
            shown = shown[shown["result"].isin(results)]
        st.dataframe(shown, hide_index=True, key="audit_table", column_config={
            "time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})
        st.caption(f"The whole log: `{paths.runs_root() / access.AUDIT_FILE}` (JSON lines).")
