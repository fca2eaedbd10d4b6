"""A report's HTML page: one self-contained file, drawn from the report's twin.

Plotly's JavaScript is inlined once, in the head, and every chart uses it; pictures
are ``data:`` URIs; the only links are anchors inside the page. So the file opens in
any browser with no server and no network. The first screen says what a reader needs
first: the model, the data, each group's headline figure with its interval, and the
largest gap.
"""

from __future__ import annotations

import html

import plotly.io as pio
from plotly.offline import get_plotlyjs

from modelkit import labels
from modelkit.evaluate.calibration import CALIBRATED_HEADS
from modelkit.evaluate.metrics import SUMMARY_METRIC
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES
from modelkit.report import charts
from modelkit.report import tables as t
from modelkit.report.examples import data_uri

STYLE = """
body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1080px;margin:0 auto;padding:16px 24px;color:#1b1f24}
h1{font-size:26px;margin:8px 0}h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:36px}
h3{margin-top:24px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
caption{text-align:left;font-weight:bold;padding:4px 0}th,td{border:1px solid #d0d7de;padding:3px 8px}
th{background:#f3f5f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.summary{display:grid;grid-template-columns:1fr 1fr;gap:4px 24px;background:#f6f8fa;padding:12px 16px;border-radius:6px}
.gap{background:#fff4e5;border-left:4px solid #f0883e;padding:8px 12px;margin:12px 0}
.examples{display:flex;flex-wrap:wrap;gap:12px}.example{width:272px;font-size:12px}
.example img{width:128px;height:128px;object-fit:contain;background:#eee}
.caveat{margin:6px 0}code{background:#f3f5f7;padding:1px 4px;word-break:break-all}
nav a{margin-right:12px}@media print{nav{display:none}h2{break-before:auto}}
"""
CHART_CONFIG = {"displaylogo": False, "responsive": True}


def render_page(report: dict, examples: list) -> str:
    """The whole HTML document of a report twin and its drawn examples."""
    title = f"Audit report: {report['model']['id']}"
    body = [f"<h1>{html.escape(title)}</h1>", _nav(report), _first_screen(report),
            _model_section(report), _data_section(report)]
    body += [_evaluation_section(e, i) for i, e in enumerate(report["evaluations"])]
    body += [_comparisons_section(report), _label_quality_section(report.get("label_quality")),
             _examples_section(examples, _midpoint_sets(report)), _caveats_section(report["caveats"]), _made_section(report)]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            + "".join(part for part in body if part) + "</body></html>")


def _chart(figure, chart_id: str) -> str:
    if figure is None:
        return ""
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=chart_id,
                       config=CHART_CONFIG)


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>' + "".join(parts) + "</section>"


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _nav(report: dict) -> str:
    links = [("summary", "Summary"), ("model", "Model"), ("data", "Data")]
    links += [(f"eval-{i}", e["name"]) for i, e in enumerate(report["evaluations"])]
    links += [("comparisons", "Comparisons"), ("label-quality", "Label quality"),
              ("examples", "Examples"), ("caveats", "Caveats"), ("made", "How it was made")]
    return "<nav>" + "".join(f'<a href="#{a}">{html.escape(n)}</a>' for a, n in links) + "</nav>"


def _first_screen(report: dict) -> str:
    model, first = report["model"], report["evaluations"][0]
    figures = first["evaluation"]
    if model["kind"] == "outside":
        what = f"outside model ({model['card']['format']}): {model['card'].get('source') or 'no source given'}"
        data = "trained outside FaceScope"
    else:
        recipe, trained = model["recipe"], model["training_data"]
        what = (f"FaceScope run: {recipe.get('backbone')} backbone, {recipe.get('image_size')} px, "
                f"{recipe.get('epochs')} epoch{'' if recipe.get('epochs') == 1 else 's'}, "
                f"balance {recipe.get('balance')}")
        sha = trained.get("sha256")
        data = (f"{trained.get('source')} at {trained.get('root')}: {trained.get('n_train')} train / "
                f"{trained.get('n_val')} val / {trained.get('n_test')} test faces"
                + (f" (sha256 {sha[:12]}…)" if sha else ""))
    facts = [("Model", what), ("Heads", ", ".join(model["heads"])), ("Training data", data),
             ("Evaluated", "; ".join(f"{e['name']}: {e['evaluation']['n']} faces"
                                     for e in report["evaluations"]))]
    grid = "".join(f"<div><b>{html.escape(k)}</b>: {html.escape(str(v))}</div>" for k, v in facts)
    rows = []
    for grouping in ("overall", *GROUP_ATTRIBUTES):
        groups = {"all faces": None} if grouping == "overall" else figures["by_group"].get(grouping, {})
        for group, entry in groups.items():
            cells = []
            for head in figures_heads(figures):
                metric = f"{head}_{SUMMARY_METRIC[head]}"
                value = figures["overall"].get(metric) if entry is None else entry.get(metric)
                bounds = figures["overall"]["ci"].get(metric) if entry is None else entry["ci"].get(metric)
                cells.append(t.with_interval(value, bounds))
            n = figures["n"] if entry is None else entry["n"]
            rows.append([f"{t.grouping_title(grouping)}: {group}" if entry else "overall", n, *cells])
    headline = t.table(["group", "n", *(charts.metric_title(h) for h in figures_heads(figures))], rows,
                       table_id="headline", caption=f"Headline figures on {first['name']}, "
                       "with 95% bootstrap intervals")
    return _section("summary", "Summary", f'<div class="summary">{grid}</div>',
                    _largest_gaps(figures), headline)


def figures_heads(figures: dict) -> list[str]:
    """The heads an evaluation has figures for, in ``labels.HEADS`` order."""
    return [h for h in labels.HEADS if f"{h}_{SUMMARY_METRIC[h]}" in figures["overall"]]


def _largest_gaps(figures: dict) -> str:
    lines = []
    for head in figures_heads(figures):
        metric = f"{head}_{SUMMARY_METRIC[head]}"
        gaps = [(g, e) for g, m in figures["gaps"].items() if g in GROUP_ATTRIBUTES
                for name, e in m.items() if name == metric and e["difference"] is not None]
        if gaps:
            grouping, e = max(gaps, key=lambda item: item[1]["difference"])
            lines.append(f"{charts.metric_title(head)}: {e['best_group']} {t.number(e['best'])} vs "
                         f"{e['worst_group']} {t.number(e['worst'])} (by {t.grouping_title(grouping)}, "
                         f"difference {t.number(e['difference'])})")
    if not lines:
        return ""
    return ('<div class="gap" id="largest-gap"><b>Largest gap per head</b><br>'
            + "<br>".join(html.escape(line) for line in lines) + "</div>")


def _model_section(report: dict) -> str:
    model = report["model"]
    if model["kind"] == "outside":
        return _section("model", "Model", _p("An outside model, audited by FaceScope from its card:"),
                        t.key_values({k: v for k, v in model["card"].items() if k != "heads"}, table_id="card"),
                        t.key_values({h["head"]: h for h in model["card"]["heads"]}, table_id="card-heads"))
    return _section("model", "Model",
                    "<h3>Recipe</h3>", t.key_values(model["recipe"], table_id="recipe"),
                    "<h3>Training data</h3>", t.key_values(model["training_data"], table_id="training-data"),
                    "<h3>Trained with</h3>", t.key_values(model["trained_with"] | model["status"],
                                                          table_id="trained-with"))


def _data_section(report: dict) -> str:
    parts = []
    balance = report.get("training_balance")
    if balance:
        parts.append(_p(f"The train split before and after the balance plan "
                        f"({balance.get('balance')}, target {balance.get('target')}, at most "
                        f"{balance.get('max_repeat')} repeats of a face): images per group in one epoch."))
        parts += [_chart(charts.balance_figure(balance, a), f"balance-{a}") for a in GROUP_ATTRIBUTES]
    else:
        parts.append(_p("No training balance is recorded for this model (see the caveats)."))
    for i, entry in enumerate(report["evaluations"]):
        rows = [[f"{t.grouping_title(a)}: {v}", n] for a, values in entry["composition"].items()
                for v, n in values.items()]
        parts.append(t.table(["group", "faces"], rows, table_id=f"composition-{i}",
                             caption=f"{entry['name']}: faces per group (true labels)"))
    return _section("data", "Data", *parts)


def _evaluation_section(entry: dict, i: int) -> str:
    figures = entry["evaluation"]
    parts = [_p(f"Reproduce: {entry['command']}")]
    info = figures.get("evaluation_set")
    if info:
        mapping = info.get("race_mapping") or {}
        parts.append(t.key_values({"source": info.get("source"), "root": info.get("root"),
                                   "images": info.get("n_images"), "skipped": info.get("n_skipped"),
                                   "race labels": mapping.get("kind"), "race from": mapping.get("from"),
                                   "race to": mapping.get("to"), "race mapping": mapping.get("table") or None,
                                   "ages are ranges": info.get("age_true_is_midpoint")},
                                  table_id=f"eval-{i}-set"))
    parts.append(t.overall_table(figures, table_id=f"eval-{i}-overall"))
    for head in figures_heads(figures):
        parts.append(_chart(charts.groups_figure(figures, head), f"eval-{i}-groups-{head}"))
    for grouping in figures["by_group"]:
        parts.append(t.groups_table(figures, grouping, table_id=f"eval-{i}-by-{grouping}"))
    parts.append(t.gaps_table(figures, table_id=f"eval-{i}-gaps"))
    for head, matrix in figures["confusion"].items():
        parts.append(_chart(charts.confusion_figure(matrix, head), f"eval-{i}-confusion-{head}"))
    if entry.get("age_by_true_age"):
        parts.append(_chart(charts.age_error_figure(entry["age_by_true_age"],
                                                    vs_midpoint=figures["age_mae_vs_midpoint"]),
                            f"eval-{i}-age-error"))
    calibration = figures.get("calibration") or {}
    for head in (h for h in CALIBRATED_HEADS if (calibration.get(h) or {}).get("overall")):
        parts.append(_chart(charts.calibration_figure(calibration, head), f"eval-{i}-calibration-{head}"))
        parts.append(t.calibration_table(calibration, head, table_id=f"eval-{i}-calibration-{head}-table"))
    return _section(f"eval-{i}", f"Evaluation: {entry['name']}", *parts)


def _comparisons_section(report: dict) -> str:
    entries = report.get("comparisons") or []
    if not entries:
        return _section("comparisons", "Comparisons", _p("No comparison was asked for (report --compare OTHER)."))
    parts = []
    for i, entry in enumerate(entries):
        where = f" on {entry['on']}" if entry["on"] else ""
        parts.append(f"<h3>{html.escape('Against ' + entry['baseline'] + where)}</h3>")
        parts.append(_p(f"Reproduce: {entry['command']}"))
        result = entry["comparison"]
        if result is None:
            parts.append(_p(f"Not comparable: {entry['not_comparable']}"))
            continue
        run = result["runs"][0]
        parts.append(_p(f"{run['n_shared']} shared faces; settings that differ: "
                        + (", ".join(f"{k} {a} → {b}" for k, (a, b) in run["config_differences"].items())
                           or "none")))
        parts.append(t.change_table(result["overall"][run["id"]], table_id=f"compare-{i}-overall",
                                    caption="Overall: paired change (this run - baseline)"))
        significant = {f"{t.grouping_title(g)}: {group}: {m}": e
                       for g, groups in result["by_group"][run["id"]].items()
                       for group, metrics in groups.items() for m, e in metrics.items() if e["excludes_zero"]}
        parts.append(t.change_table(significant, table_id=f"compare-{i}-significant",
                                    caption=f"Group changes whose 95% interval excludes 0 ({len(significant)})"))
        for head in labels.HEADS:
            parts.append(_chart(charts.change_figure(result["by_group"][run["id"]], head,
                                                     baseline=entry["baseline"]), f"compare-{i}-{head}"))
    return _section("comparisons", "Comparisons", *parts)


def _label_quality_section(quality: dict | None) -> str:
    if not quality:
        return _section("label-quality", "Label quality", _p("No suspect labels were ranked and no "
                                                             "label decisions were made for this run."))
    parts = []
    if quality.get("suspects"):
        s = quality["suspects"]
        parts.append(_p(f"Suspect labels ranked over {s.get('n_images')} images: "
                        + ", ".join(f"{a} {n}" for a, n in (s.get("issues") or {}).items())))
    if quality.get("decisions"):
        rows = [[a, action, n] for a, by in quality["decisions"].items() for action, n in by.items()]
        parts.append(t.table(["attribute", "decision", "labels"], rows, table_id="decisions",
                             caption=f"Decisions in {quality.get('corrections_file')}", numeric_from=2))
    return _section("label-quality", "Label quality", *parts)


def _midpoint_sets(report: dict) -> set[str]:
    """The evaluations whose true ages are the midpoints of ranges (FairFace's)."""
    return {e["name"] for e in report["evaluations"] if e["evaluation"]["age_mae_vs_midpoint"]}


def _examples_section(examples: list, midpoint_sets: set[str]) -> str:
    if not examples:
        return _section("examples", "Examples", _p("No group falls below the overall figure "
                                                   "with enough faces to pick examples from."))
    cards = []
    for e in examples:
        pictures = "".join(f'<img alt="{alt}" src="{data_uri(data)}">' for alt, data in
                           (("face", e.face_jpeg), (f"{e.saliency} map", e.overlay_jpeg)) if data)
        true, pred = (f"{v:.1f} years" if e.head == "age" else v for v in (e.true, e.pred))
        if e.head == "age" and e.evaluation in midpoint_sets:
            true += " (its range's midpoint)"
        text = (f"{e.evaluation} · {e.head} · weakest {t.grouping_title(e.grouping)}: {e.group} · "
                f"true {true}, predicted {pred}" + (f" ({e.confidence:.0%} sure)" if e.confidence == e.confidence
                                                      and e.confidence is not None else "")
                + f" · {e.path.rsplit('/', 1)[-1]}" + (f" · {e.problem}" if e.problem else ""))
        cards.append(f'<div class="example">{pictures}<div>{html.escape(text)}</div></div>')
    return _section("examples", "Examples", _p("The worst errors of each head's weakest group "
                    "(furthest below overall, with enough faces), and what the model looked at."),
                    f'<div class="examples">{"".join(cards)}</div>')


def _caveats_section(caveats: list[dict]) -> str:
    items = "".join(f'<li class="caveat"><b>{html.escape(c["about"])}</b>: {html.escape(c["text"])}</li>'
                    for c in caveats)
    return _section("caveats", "Caveats", f"<ul>{items}</ul>" if items else _p("None found in the data."))


def _made_section(report: dict) -> str:
    made = report["report"]
    return _section("made", "How it was made",
                    _p("Regenerate this report with the same run and data:"),
                    f"<p><code>{html.escape(made['command'])}</code></p>",
                    t.key_values(made["made_by"], table_id="made-by"),
                    _p("Every number is in the JSON twin beside this file; each evaluation and "
                       "comparison names the command that prints it."))
