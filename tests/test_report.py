"""`python -m modelkit report`: one self-contained HTML audit report and its JSON twin.

The numbers are checked against what `evaluate --json` and `compare --json` print for
the same run, read back from the page's text with the standard library's HTML parser.
The run is the session's tiny UTKFace run (tests/helpers/tiny_run.py), with a FairFace
evaluation set, and a baseline that answers one face in four's gender wrong.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from modelkit.__main__ import main
from modelkit.provenance import manifest_sha256
from tests.helpers.datasets import make_tiny_fairface
from tests.helpers.report_page import ReportPage, three
from tests.helpers.report_runs import report_runs
from tests.helpers.tiny_run import copy_run

pytestmark = pytest.mark.slow

HEADLINE = {"gender": "gender_accuracy", "race": "race_accuracy", "age": "age_mae"}


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(run, baseline): tests/helpers/report_runs.py's."""
    return report_runs(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """(twin, page) of the run's report on its test split and FairFace, against the baseline."""
    run, baseline = runs
    out = tmp_path_factory.mktemp("report-out") / "audit.html"
    assert main(["report", "--run-dir", str(run), "--on", "fairface", "--compare", str(baseline),
                 "--out", str(out)]) == 0
    return json.loads(out.with_suffix(".json").read_text()), ReportPage(out.read_text())


def test_the_twin_holds_exactly_what_evaluate_and_compare_print(runs, report, capsys):
    run, baseline = runs
    twin, _ = report
    own, fairface = twin["evaluations"]
    code, out, _ = cli(capsys, "evaluate", "--run-dir", run, "--json")
    assert code == 0 and own["evaluation"] == json.loads(out)
    code, out, _ = cli(capsys, "evaluate", "--run-dir", run, "--on", "fairface", "--json")
    assert code == 0 and fairface["evaluation"] == json.loads(out)
    by_set = {c["on"]: c for c in twin["comparisons"]}
    code, out, _ = cli(capsys, "compare", baseline, run, "--json")
    assert code == 0 and by_set[None]["comparison"] == json.loads(out)
    code, out, _ = cli(capsys, "compare", baseline, run, "--on", "fairface", "--json")
    assert code == 0 and by_set["fairface"]["comparison"] == json.loads(out)
    # The baseline's wrong genders are a change the compare measures: the report carries it.
    change = by_set[None]["comparison"]["overall"][run.name]["gender_accuracy"]["difference"]
    assert change > 0


def test_the_page_shows_the_headline_groups_and_gaps_that_evaluate_prints(runs, report, capsys):
    run, _ = runs
    _, page = report
    code, out, _ = cli(capsys, "evaluate", "--run-dir", run, "--json")
    figures = json.loads(out)
    headline = page.rows("headline")
    heads = [h for h in HEADLINE if HEADLINE[h] in figures["overall"]]
    for column, head in enumerate(heads, start=1):
        metric = HEADLINE[head]
        lo, hi = figures["overall"]["ci"][metric]
        assert headline["overall"][column] == f"{three(figures['overall'][metric])} [{three(lo)}, {three(hi)}]"
    assert headline["overall"][0] == str(figures["n"])
    for group, entry in figures["by_group"]["gender"].items():
        lo, hi = entry["ci"]["gender_accuracy"]
        assert headline[f"gender: {group}"][1] == f"{three(entry['gender_accuracy'])} [{three(lo)}, {three(hi)}]"
    by_race = page.rows("eval-0-by-race")
    assert set(by_race) == set(figures["by_group"]["race"])
    for group, entry in figures["by_group"]["race"].items():
        assert by_race[group][0] == str(entry["n"])
    gaps = page.rows("eval-0-gaps")
    gap = figures["gaps"]["race"]["gender_accuracy"]
    assert gaps["race: gender_accuracy"][:3] == [gap["best_group"], three(gap["best"]), gap["worst_group"]]
    assert gaps["race: gender_accuracy"][4] == three(gap["difference"])
    assert "Largest gap per head" in page.text


def test_the_page_shows_the_paired_changes_that_compare_prints(runs, report, capsys):
    run, baseline = runs
    _, page = report
    code, out, _ = cli(capsys, "compare", baseline, run, "--json")
    changes = json.loads(out)["overall"][run.name]
    rows = page.rows("compare-0-overall")
    for metric, entry in changes.items():
        lo, hi = entry["ci"]
        assert rows[metric][3:5] == [three(entry["difference"], signed=True),
                                     f"[{three(lo, signed=True)}, {three(hi, signed=True)}]"]
        assert rows[metric][5] == ("*" if entry["excludes_zero"] else "")


def test_the_page_fetches_nothing_from_outside_itself(report):
    _, page = report
    assert page.links, "the page has its navigation links and pictures"
    outside = [link for link in page.links if not link[2].startswith(("#", "data:"))]
    assert outside == []
    assert {tag for tag, name, _ in page.links if name == "src"} <= {"img"}  # no script or frame src


def test_the_report_names_its_sets_mapping_caveats_and_how_to_make_it_again(runs, report):
    run, baseline = runs
    twin, page = report
    assert [e["name"] for e in twin["evaluations"]] == ["test split", "fairface"]
    assert page.rows("eval-1-set")["race from"] == ["fairface"]
    kinds = {c["kind"] for c in twin["caveats"]}
    assert {"small_split", "race_folded", "age_ranges"} <= kinds  # 80 FairFace faces, 7 races into 5
    assert "fairface gives ages as ranges, not years" in page.text
    assert twin["report"]["command"].startswith(f"python -m modelkit report --run-dir {run} --on fairface "
                                                f"--compare {baseline}")
    made = page.rows("made-by")
    assert made["facescope_version"][0] and made["time"][0]
    assert twin["model"]["training_data"]["sha256"] == json.loads(
        (run / "config.json").read_text())["provenance"]["data_sha256"]
    # Examples: each one the face and what the model looked at, as embedded pictures.
    assert twin["examples"] and all(e["saliency"] == "gradcam" for e in twin["examples"])
    assert sum(1 for tag, _, v in page.links if tag == "img" and v.startswith("data:image/jpeg")) \
        == 2 * len(twin["examples"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--on", "nowhere"], "nowhere"),
    (["--on", "fairface", "--on", "fairface"], "named twice"),
    (["--out", "{tmp}/audit.pdf"], "must name an .html file"),
    (["--compare", "{tmp}/missing-run"], "missing-run"),
])
def test_bad_arguments_are_refused_naming_them_and_write_nothing(runs, tmp_path, capsys, argv, message):
    run, _ = runs
    argv = [a.format(tmp=tmp_path) for a in argv]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "audit.html")]
    code, _, err = cli(capsys, "report", "--run-dir", run, *argv, *out)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


def test_a_run_with_no_split_of_its_own_must_name_a_set(runs, tmp_path, capsys):
    run, _ = runs
    bare = copy_run(run, tmp_path / "bare")
    (bare / "predictions.parquet").unlink()
    code, _, err = cli(capsys, "report", "--run-dir", bare, "--out", tmp_path / "a.html")
    assert code == 2 and "--on SET" in err


def test_an_outside_models_answers_are_reported_with_its_card(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACESCOPE_RUNS_ROOT", str(tmp_path / "runs"))
    root = make_tiny_fairface(tmp_path / "fairface")
    answers = tmp_path / "answers.csv"
    pd.DataFrame([{"path": f"{split}/{i}.jpg", "sex": sex, "years": 30} for split, i, sex in
                  (("train", 1, "male"), ("train", 2, "male"), ("train", 3, "female"),
                   ("train", 4, "male"), ("val", 1, "male"), ("val", 2, "female"))]).to_csv(answers, index=False)
    assert cli(capsys, "models", "add", "vendor", "--predictions", answers, "--gender", "sex:male,female",
               "--age", "years:number")[0] == 0
    model = tmp_path / "runs" / "models" / "vendor"
    assert cli(capsys, "predict", "--run-dir", model, "--source", "fairface", "--root", root)[0] == 0
    code, _, err = cli(capsys, "report", "--run-dir", model, "--out", tmp_path / "vendor.html")
    assert code == 2 and "--on SET" in err  # an outside model has no split of its own
    code, _, err = cli(capsys, "report", "--run-dir", model, "--on", "fairface", "--out", tmp_path / "vendor.html")
    assert code == 0, err
    twin = json.loads((tmp_path / "vendor.json").read_text())
    page = ReportPage((tmp_path / "vendor.html").read_text())
    code, out, _ = cli(capsys, "evaluate", "--run-dir", model, "--on", "fairface", "--json")
    assert twin["evaluations"][0]["evaluation"] == json.loads(out)
    assert twin["model"]["kind"] == "outside" and twin["model"]["heads"] == ["gender", "age"]
    assert "outside_data" in {c["kind"] for c in twin["caveats"]}
    assert twin["training_balance"] is None and "race" not in page.header("headline")[2:]
    assert page.rows("card")["format"] == ["predictions"]


def test_the_data_hash_follows_the_labels_not_the_order(tmp_path):
    rows = pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"], "gender": ["male", "female", "male"],
                         "age": [30, 4, 61]})
    same = manifest_sha256(rows.iloc[::-1])
    assert manifest_sha256(rows) == same
    relabelled = rows.assign(gender=["male", "male", "male"])
    assert manifest_sha256(relabelled) != same
