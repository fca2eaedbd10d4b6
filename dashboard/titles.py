"""Display names and colours: how the dashboard shows the project's vocabularies.

The names themselves (heads, attributes, methods, sources) are defined once in
``modelkit.config``; this module re-exports them for the views and adds what only the
UI needs: colours and small formatting helpers.
"""

from __future__ import annotations

from modelkit.config import ATTRIBUTE_TITLES, BALANCE_TITLES, HEAD_TITLES, METHOD_TITLES, SOURCE_TITLES

# Plotly's default qualitative palette (D3 category10): one colour per run, in order.
RUN_COLORS: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
BEFORE_COLOR = "#9aa5b1"   # the dataset as it is
AFTER_COLOR = "#2a6fdb"    # after the balance plan
GOOD_COLOR = "#2ca02c"
BAD_COLOR = "#d62728"

__all__ = ["ATTRIBUTE_TITLES", "BALANCE_TITLES", "HEAD_TITLES", "METHOD_TITLES",
           "SOURCE_TITLES", "RUN_COLORS", "BEFORE_COLOR", "AFTER_COLOR", "GOOD_COLOR",
           "BAD_COLOR", "run_color"]


def run_color(index: int) -> str:
    """The colour of the ``index``-th run of a comparison (cycles after ten)."""
    return RUN_COLORS[index % len(RUN_COLORS)]
