"""The Review page, rendered with AppTest on a tiny run trained on real UTKFace faces
(tests/helpers/curation_run.py): keep, fix and exclude change the counts and the corrections
file, undo withdraws, two tabs agree, and the page ranks a run in the background."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.review_cards import card_key
from dashboard.review_view import PAGE_SIZE, SEP
from modelkit import paths, runs
from modelkit.curation import corrections as cx
from modelkit.curation import rank_jobs, ranking
from tests.helpers.curation_run import copy_into, trained_run
from tests.helpers.fake_trainer import install_fake_trainer
from tests.helpers.waits import wait_for

pytestmark = pytest.mark.slow
PAGE = str(paths.REPO_ROOT / "pages" / "review.py")


@pytest.fixture
def run_dir(tmp_path_factory, tmp_path):
    return copy_into(trained_run(tmp_path_factory.getbasetemp()), tmp_path / "runs")


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120)


def metric(at, label) -> int:
    return int(next(m for m in at.metric if m.label == label).value.replace(",", ""))


def flagged(run_dir, head="gender") -> pd.DataFrame:
    """The rows the page shows by default: the head's flagged rows, most suspicious first
    (computed from the parquet file, not by the page)."""
    table = pd.read_parquet(run_dir / ranking.SUSPECTS_FILE)
    attributes = {"gender": ["gender"], "race": ["race"], "age": ["age", "age_group"]}[head]
    rows = table[table["attribute"].isin(attributes) & table["is_issue"]]
    return rows.sort_values(["score", "attribute", "path"], kind="stable").reset_index(drop=True)


def row_id(run_dir, row) -> str:
    root = ranking.run_config(run_dir)["root"]
    return cx.relative_path(row["path"], root=root) + SEP + row["attribute"]


def decisions(run_dir) -> dict:
    file = cx.config_corrections_path(ranking.run_config(run_dir))
    return {k: (d.action, d.value) for k, d in cx.latest_decisions(cx.read_decisions(file)).items()}


def test_the_gallery_shows_the_top_suspects_most_suspicious_first(run_dir):
    at = page().run()
    assert not at.exception, at.exception
    expected = flagged(run_dir)
    assert len(expected) > 0
    assert metric(at, "Reviewed") == 0 and metric(at, "Remaining") == len(expected)
    assert len(at.image) == min(PAGE_SIZE, len(expected))
    first = expected.iloc[0]
    shown = [m.value for m in at.markdown if "· given" in m.value]
    assert shown[0].startswith("**Gender** · given **" + first["given"] + "**")
    assert f"suggested **{first['suggested']}**" in shown[0]
    assert at.button(key=f"review_keep_{card_key(row_id(run_dir, first))}")


def test_keep_fix_and_exclude_change_the_counts_and_undo_withdraws(run_dir):
    at = page().run()
    rows = flagged(run_dir)
    ids = [row_id(run_dir, rows.iloc[i]) for i in range(3)]
    keys = [card_key(i) for i in ids]
    at.button(key=f"review_keep_{keys[0]}").click().run()
    assert (metric(at, "Reviewed"), metric(at, "Kept")) == (1, 1)
    fix = rows.iloc[1]
    at.button(key=f"review_fix_{keys[1]}").click().run()
    at.button(key=f"review_exclude_{keys[2]}").click().run()
    assert not at.exception, at.exception
    assert (metric(at, "Reviewed"), metric(at, "Remaining")) == (3, len(rows) - 3)
    assert (metric(at, "Relabelled"), metric(at, "Excluded")) == (1, 1)
    path = lambda i: ids[i].split(SEP)[0]  # noqa: E731
    assert decisions(run_dir) == {(path(0), "gender"): ("keep", None),
                                  (path(1), "gender"): ("set", fix["suggested"]),
                                  (path(2), "gender"): ("exclude", None)}
    assert any(s.value.startswith(f"Set to {fix['suggested']}") for s in at.success)

    at.button(key=f"review_undo_{keys[2]}").click().run()
    assert (metric(at, "Reviewed"), metric(at, "Excluded")) == (2, 0)
    assert at.button(key=f"review_exclude_{keys[2]}")  # the buttons are back


def test_set_picks_a_value_from_the_vocabulary(run_dir):
    at = page().run()
    row = flagged(run_dir).iloc[0]
    key = card_key(row_id(run_dir, row))
    at.selectbox(key=f"review_pick_{key}").set_value(row["given"])
    at.button(key=f"review_set_{key}").click().run()
    assert not at.exception
    assert list(decisions(run_dir).values()) == [("set", row["given"])]
    assert metric(at, "Relabelled") == 1


def test_two_tabs_the_later_decision_wins_and_both_show_it(run_dir):
    first, second = page().run(), page().run()
    row = flagged(run_dir).iloc[0]
    key = card_key(row_id(run_dir, row))
    first.button(key=f"review_keep_{key}").click().run()
    second.button(key=f"review_exclude_{key}").click().run()  # drawn before the keep
    first.run()
    for tab in (first, second):
        assert any(s.value == "Excluded from training" for s in tab.success)
    assert list(decisions(run_dir).values()) == [("exclude", None)]
    file = cx.config_corrections_path(ranking.run_config(run_dir))
    assert len(file.read_text().splitlines()) == 2  # both rows kept


def test_filters_by_head_group_and_score(run_dir):
    at = page().run()
    at.radio(key="review_head").set_value("age").run()
    expected = flagged(run_dir, "age")
    assert metric(at, "Remaining") == len(expected)
    at.toggle(key="review_flagged").set_value(False).run()
    table = pd.read_parquet(run_dir / ranking.SUSPECTS_FILE)
    ages = table[table["attribute"] == "age"]
    assert metric(at, "Remaining") == len(ages)
    at.multiselect(key="review_group_gender").set_value(["female"]).run()
    assert metric(at, "Remaining") == int((ages["gender"] == "female").sum())
    at.slider(key="review_score").set_value(0.2).run()
    assert metric(at, "Remaining") == int(((ages["gender"] == "female") & (ages["score"] <= 0.2)).sum())


def test_an_unranked_run_is_ranked_in_the_background(run_dir):
    (run_dir / ranking.SUSPECTS_FILE).unlink()
    at = page().run()
    assert "not ranked yet" in at.info[0].value
    at.button(key="review_rank").click().run()
    assert rank_jobs.ranking_state(run_dir).state in ("queued", "running", "done")
    wait_for(lambda: rank_jobs.ranking_state(run_dir).state == "done", timeout=600,
             what="the background ranking")
    at.run()
    assert not at.exception and metric(at, "Remaining") == len(flagged(run_dir))


def test_retrain_starts_a_run_with_the_corrections(run_dir, monkeypatch):
    install_fake_trainer(monkeypatch)
    at = page().run()
    assert at.button(key="review_retrain").disabled  # no decision yet
    row = flagged(run_dir).iloc[0]
    at.button(key=f"review_exclude_{card_key(row_id(run_dir, row))}").click().run()
    at.button(key="review_retrain").click().run()
    assert not at.exception and "watch it on the Train page" in at.success[-1].value
    (run,) = [r for r in runs.list_runs() if r.id != run_dir.name]
    file = cx.config_corrections_path(ranking.run_config(run_dir))
    assert run.config["corrections"] == str(file)
    assert run.config["root"] == ranking.run_config(run_dir)["root"]
    runs.wait(run.id, timeout=60)
    at.run()
    link = next(m.value for m in at.markdown if "Did it help?" in m.value)
    assert f"compare?baseline={run_dir.name}&runs={run.id}" in link
    saved = json.loads((paths.runs_root() / run.id / "launch.json").read_text())
    assert saved["config"]["corrections"] == str(file)


def test_a_damaged_corrections_file_is_named_not_a_crash(run_dir):
    file = cx.config_corrections_path(ranking.run_config(run_dir))
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text('{"path": "a.jpg", "attribute": "gender", "action": "keep"}\nnot json\n')
    at = page().run()
    assert not at.exception
    assert "line 2 is not a decision" in at.error[0].value
