"""The Runs page, rendered with AppTest over runs made by the real launcher and
supervisor, training with the stand-in trainer (tests/helpers/fake_trainer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import runs_view
from modelkit import paths, runs
from tests.helpers.fake_trainer import install_fake_trainer

PAGE = str(paths.REPO_ROOT / "pages" / "runs.py")


@pytest.fixture
def three_runs(tmp_path, monkeypatch):
    """Two finished runs (2 and 3 epochs) and one running."""
    install_fake_trainer(monkeypatch)
    monkeypatch.setenv("FAKE_BATCH_S", "0.02")
    done = [runs.start_run({"source": "synthetic", "backbone": "small_cnn", "epochs": n})
            for n in (2, 3)]
    for run in done:
        assert runs.wait(run.id, timeout=30).state == "finished"
    monkeypatch.setenv("FAKE_BATCH_S", "0.5")
    going = runs.start_run({"source": "synthetic", "backbone": "efficientnet_b0", "epochs": 50})
    yield [*done, going]
    if runs.show(going.id).state not in runs.FINAL:
        runs.cancel(going.id)
    runs.wait(going.id, timeout=30)


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=30)


def test_no_runs_says_where_to_start():
    at = page().run()
    assert not at.exception
    assert "No runs yet" in at.info[0].value


def test_the_table_lists_every_run_with_best_metrics_and_filters(three_runs):
    at = page().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["id"]) == {r.id for r in three_runs}
    row = table.set_index("id").loc[three_runs[1].id]
    assert row["state"].endswith("finished") and row["epochs"] == "3/3"
    # The fake trainer logs val_gender_accuracy 0.5 + epoch/100 and val_age_mae 10 - epoch.
    assert row["best val gender acc"] == pytest.approx(0.53)
    assert row["best val age MAE"] == pytest.approx(7.0)
    assert table.set_index("id").loc[three_runs[2].id, "state"].endswith("running")

    at.sidebar.multiselect(key="runs_filter_state").select("running").run()
    assert list(at.dataframe[0].value["id"]) == [three_runs[2].id]
    at.sidebar.multiselect(key="runs_filter_state").unselect("running").run()
    at.sidebar.multiselect(key="runs_filter_backbone").select("small_cnn").run()
    assert set(at.dataframe[0].value["id"]) == {three_runs[0].id, three_runs[1].id}


def test_two_runs_compare_curves_and_final_metrics(three_runs):
    at = page().run()
    at.multiselect(key="runs_compare").select(three_runs[0].id).run()
    assert not at.get("plotly_chart")
    at.multiselect(key="runs_compare").select(three_runs[1].id).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 5  # final metrics + val loss + three heads
    frames = {r.id: runs_view.epoch_frame(r.run_dir) for r in three_runs[:2]}
    final = runs_view.final_metrics(frames).set_index("run")
    assert final.loc[three_runs[0].id, "age"] == 8.0 and final.loc[three_runs[1].id, "age"] == 7.0


def test_delete_asks_first_and_refuses_a_running_run(three_runs):
    victim, _, going = three_runs
    at = page().run()
    at.selectbox(key="runs_delete_pick").select(victim.id).run()
    at.button(key="runs_delete").click().run()
    assert "cannot be undone" in at.warning[0].value
    assert Path(victim.run_dir).exists()
    at.button(key="runs_delete_no").click().run()
    assert Path(victim.run_dir).exists() and not at.warning

    at.selectbox(key="runs_delete_pick").select(victim.id).run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not Path(victim.run_dir).exists()
    assert victim.id not in set(at.dataframe[0].value["id"])
    assert at.success and victim.id in at.success[0].value

    at.selectbox(key="runs_delete_pick").select(going.id).run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert "cancel it" in at.error[0].value
    assert Path(going.run_dir).exists()


def test_the_head_curves_legend_sits_above_the_subplot_titles_not_on_them():
    import pandas as pd

    frame = pd.DataFrame({"epoch": [1, 2], "gender_loss": [1.2, 0.8], "val_gender_loss": [1.0, 0.9],
                          "gender_accuracy": [0.6, 0.8], "val_gender_accuracy": [0.6, 0.7]})
    figure = runs_view.head_curves_figure(frame, head="gender")
    titles = [a for a in figure.layout.annotations if a.text in ("Gender loss", "Gender accuracy")]
    assert len(titles) == 2 and len(figure.data) == 4
    # The titles stand on the plots' top edge (y = 1, anchored by their bottom); the legend
    # starts a tenth of the plot height above it, clear of a title's line of text.
    assert figure.layout.legend.yanchor == "bottom"
    assert figure.layout.legend.y >= max(t.y for t in titles) + 0.1
