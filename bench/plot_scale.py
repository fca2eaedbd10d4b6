"""Draw bench_scale.py's cost curves: a log-log plot per stage, saved as a PNG.

Reads the ``--json`` file bench_scale.py wrote (every pass of every stage and N), plots
the median wall time and the peak RSS against N on log axes with a dotted linear line
through each stage's smallest N (a stage above it grows faster than linearly), and
screenshots the Plotly figure in Chromium (no image-export package needed offline).

    .venv/bin/python bench/plot_scale.py /work/bench_runs/scale.json docs/scale_costs.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

CHROMIUM = "/usr/bin/chromium"


def medians(passes: dict[str, list[dict]]) -> dict[str, dict[int, tuple[float, float]]]:
    """``{stage: {N: (median wall s, largest peak RSS MiB)}}`` from bench_scale's JSON."""
    table: dict[str, dict[int, tuple[float, float]]] = {}
    for key, rows in passes.items():
        stage, n = key.split("@")
        wall = statistics.median(r["inner_s"] if r.get("inner_s") else r["wall_s"] for r in rows)
        table.setdefault(stage, {})[int(n)] = (wall, max(r["rss_mib"] for r in rows))
    return table


def figure(table: dict[str, dict[int, tuple[float, float]]]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("wall time (s): median of the passes",
                                        "peak RSS (MiB): the largest pass"))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, (stage, points) in enumerate(table.items()):
        sizes = sorted(points)
        color = palette[i % len(palette)]
        for col, pick in ((1, 0), (2, 1)):
            values = [points[n][pick] for n in sizes]
            fig.add_trace(go.Scatter(x=sizes, y=values, mode="lines+markers", name=stage,
                                     legendgroup=stage, showlegend=col == 1,
                                     line={"color": color, "width": 2}), row=1, col=col)
            if col == 1:  # linear from the smallest N: the target's line
                fig.add_trace(go.Scatter(x=sizes, y=[values[0] * n / sizes[0] for n in sizes],
                                         mode="lines", line={"color": color, "dash": "dot", "width": 1},
                                         legendgroup=stage, showlegend=False, hoverinfo="skip"),
                              row=1, col=1)
    # Labelled ticks only: log axes' minor "2" and "5" labels read as values.
    ticks = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=[10_000, 50_000, 100_000, 500_000],
                         ticktext=["10k", "50k", "100k", "500k"], title_text="faces in the set (N)",
                         row=1, col=col)
        fig.update_yaxes(type="log", tickvals=ticks, row=1, col=col)
    fig.update_yaxes(title_text="seconds (each a process: ~1.5 s is its start)", row=1, col=1)
    fig.update_yaxes(title_text="MiB", row=1, col=2)
    fig.update_layout(width=1100, height=480, template="plotly_white", font={"size": 14},
                      title="Cost per stage against N (dotted: linear growth from N = 10,000)",
                      legend={"title": "stage"})
    return fig


def save_png(fig: go.Figure, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "scale.html"
        fig.write_html(page_file, include_plotlyjs=True, full_html=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1120, "height": 500})
            page.goto(page_file.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(out), full_page=True)
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("passes", type=Path, help="bench_scale.py --json's file")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    save_png(figure(medians(json.loads(args.passes.read_text()))), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
