"""Audit reports: one self-contained HTML file per model, and its JSON twin.

A report is what an audit hands over to someone who never opens FaceScope: the model
(its recipe and training data, or an outside model's card), the data, every figure
overall and per group with its interval, each evaluation set with its label mapping,
paired comparisons with other runs, label quality, a few worst errors with their
saliency maps, and caveats written from the data. Its numbers are exactly those of
``evaluate --json`` and ``compare --json`` (each section names its command); the twin
``FILE.json`` holds them all.

Example::

    from modelkit.report import write_report
    write_report("runs/abc", on=["fairface"], compare=["base"], out="abc.html")
"""

from modelkit.report.build import build_report, render_report, report_command, write_report

__all__ = ["build_report", "render_report", "report_command", "write_report"]
