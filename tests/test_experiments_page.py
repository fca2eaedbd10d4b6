"""Remedy experiments and the demo in the dashboard, rendered with AppTest: the Train
form's control, the Runs page's groups, filter, Compare buttons and delete
confirmation, and the demo button of the Evaluate and Explain empty states.

Runs go through the real launcher and supervisor with the stand-in trainer
(tests/helpers/fake_trainer.py). Pages that switch to another page are run through
app.py (st.navigation), as a browser runs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelkit import paths, runs
from modelkit.config import TrainConfig
from modelkit.runs import demo
from tests.helpers.fake_trainer import fake_trainer_fixture

PAGES = paths.REPO_ROOT / "pages"
ASKED = {"source": "synthetic", "epochs": 1, "balance": "race", "seed": 7}


fake_trainer = fake_trainer_fixture(0.02, stop_timeout=60)


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)


def in_app(name: str) -> AppTest:
    """The page as the app serves it (st.navigation), so switch_page works."""
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page(f"pages/{name}.py")
    return at


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "success",
                                                "error", "warning") for e in at.get(kind))


def finished_experiment() -> list[runs.RunInfo]:
    pair = runs.start_experiment(ASKED, control={"balance": "none"})
    assert [runs.wait(r.id, timeout=60).state for r in pair] == ["finished", "finished"]
    return pair


# ----------------------------------------------------------------------------- Train page
def test_the_train_form_starts_the_run_and_its_control(fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "0.3")  # the control is still queued while we look
    at = page("train").run()
    at.number_input(key="train_epochs").set_value(3)
    assert at.selectbox(key="train_control_pick").value == "no_balance"  # the default control
    at.selectbox(key="train_balance").select("race")
    at.checkbox(key="train_control_on").check()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    at.button(key="train_start").click().run()  # a double click
    found = runs.list_runs()
    assert len(found) == 2
    by_role = {r.experiment_role: r for r in found}
    assert by_role["treatment"].experiment == by_role["control"].experiment
    treatment = TrainConfig.from_dict(by_role["treatment"].config)
    assert (treatment.epochs, treatment.balance) == (3, "race")
    control = TrainConfig.from_dict(by_role["control"].config)
    assert treatment.differences(control) == {"balance": ("race", "none")}
    shown = texts(at)
    assert f"Experiment {by_role['treatment'].experiment}" in shown
    assert "balance: race → none" in shown
    assert at.selectbox(key="train_watch").value == by_role["treatment"].id
    at.button(key="train_experiment_watch").click().run()
    assert at.selectbox(key="train_watch").value == by_role["control"].id
    # Compare waits for both runs to finish.
    assert at.button(key="train_experiment_compare").disabled
    for run in found:
        runs.wait(run.id, timeout=60)
    at.run()
    assert not at.button(key="train_experiment_compare").disabled


@pytest.mark.parametrize(("pick", "custom", "message"), [
    ("no_balance", "", r"control \(balance=none\) is what the run already has"),
    ("custom", "", "the custom control is empty"),
    ("custom", "epochs=lots", "control setting epochs=lots: epochs takes an integer"),
    ("custom", "seed=2", "'seed' cannot be varied"),
])
def test_a_bad_control_is_an_error_and_starts_nothing(pick, custom, message):
    at = page("train").run()
    at.checkbox(key="train_control_on").check()
    at.selectbox(key="train_control_pick").select(pick)
    at.text_input(key="train_control_custom").input(custom)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert at.error and re.search(message, at.error[0].value), at.error[0].value
    assert runs.list_runs() == []


def test_compare_from_the_train_page_opens_the_pair_preselected(fake_trainer):
    at = in_app("train").run()
    at.selectbox(key="train_balance").select("race")
    at.checkbox(key="train_control_on").check()
    at.button(key="train_start").click().run()
    found = {r.experiment_role: r for r in runs.list_runs()}
    for run in found.values():
        runs.wait(run.id, timeout=60)
    at.run()
    at.button(key="train_experiment_compare").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare"
    assert dict(at.query_params) == {"baseline": found["control"].id,
                                     "runs": found["treatment"].id}


# ----------------------------------------------------------------------------- Runs page
def test_the_runs_page_groups_an_experiment_and_filters_on_it(fake_trainer):
    treatment, control = finished_experiment()
    alone = runs.start_run({"source": "synthetic", "epochs": 1})
    runs.wait(alone.id, timeout=60)
    at = page("runs").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[treatment.id, "experiment"] == f"{treatment.experiment} · remedy"
    assert table.loc[control.id, "experiment"] == f"{treatment.experiment} · control"
    assert table["experiment"].isna()[alone.id]
    line = next(m.value for m in at.markdown if treatment.experiment in m.value)
    assert treatment.id in line and control.id in line and "balance: race → none" in line
    assert not at.button(key=f"runs_experiment_compare_{treatment.experiment}").disabled
    at.sidebar.multiselect(key="runs_filter_experiment").select(treatment.experiment).run()
    assert set(at.dataframe[0].value["id"]) == {treatment.id, control.id}


def test_a_link_with_an_experiment_opens_the_runs_page_filtered(fake_trainer):
    treatment, control = finished_experiment()
    runs.wait(runs.start_run({"source": "synthetic", "epochs": 1}).id, timeout=60)
    at = page("runs")
    at.query_params["experiment"] = treatment.experiment
    at.run()
    assert set(at.dataframe[0].value["id"]) == {treatment.id, control.id}


def test_open_in_compare_from_the_runs_page(fake_trainer):
    treatment, control = finished_experiment()
    at = in_app("runs").run()
    at.button(key=f"runs_experiment_compare_{treatment.experiment}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare"
    assert dict(at.query_params) == {"baseline": control.id, "runs": treatment.id}

    at = in_app("runs").run()  # any two picked runs: the first picked is the baseline
    at.multiselect(key="runs_compare").select(treatment.id).select(control.id).run()
    at.button(key="runs_compare_open").click().run()
    assert at.title[0].value == "Compare"
    assert dict(at.query_params) == {"baseline": treatment.id, "runs": control.id}


def test_deleting_a_run_of_an_experiment_asks_and_keeps_the_other(fake_trainer):
    treatment, control = finished_experiment()
    at = page("runs").run()
    at.selectbox(key="runs_delete_pick").select(control.id).run()
    at.button(key="runs_delete").click().run()
    warning = at.warning[0].value
    assert "cannot be undone" in warning and f"experiment **{treatment.experiment}**" in warning
    assert f"**{treatment.id}** (remedy) is kept" in warning
    assert Path(control.run_dir).exists()
    at.button(key="runs_delete_yes").click().run()
    assert not Path(control.run_dir).exists()
    assert [r.id for r in runs.list_runs()] == [treatment.id]
    assert Path(treatment.run_dir).is_dir() and runs.show(treatment.id).state == "finished"
    assert "its other run was deleted" in texts(at)


# ----------------------------------------------------------------------------- the demo
@pytest.mark.parametrize("name", ["evaluate", "explain"])
def test_the_empty_page_trains_one_demo_even_on_a_double_click(fake_trainer, monkeypatch, name):
    monkeypatch.setenv("FAKE_BATCH_S", "1")  # the demo is still training while we look
    first, second = page(name).run(), page(name).run()  # the button on screen twice
    assert "Train a demo run" in [b.label for b in first.button]
    first.button(key=f"{name}_demo_start").click().run()
    second.button(key=f"{name}_demo_start").click().run()  # the second click
    assert not first.exception and not second.exception
    [run] = runs.list_runs()
    assert TrainConfig.from_dict(run.config) == demo.DEMO
    assert "Watch it on the Train page" in texts(first)
    assert first.session_state["train_watch"] == run.id
    again = page(name).run()  # while it trains the page shows it instead of the button
    assert not [b for b in again.button if b.key == f"{name}_demo_start"]
    assert run.id in texts(again)


def test_the_demo_watch_button_opens_the_train_page_on_the_demo(fake_trainer):
    at = in_app("evaluate").run()
    at.button(key="evaluate_demo_start").click().run()
    [run] = runs.list_runs()
    at.button(key="evaluate_demo_watch").click().run()
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_watch").value == run.id


def test_the_empty_compare_page_trains_one_demo_experiment(fake_trainer, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_S", "1")
    first, second = page("compare").run(), page("compare").run()
    assert "Train a demo experiment" in [b.label for b in first.button]
    first.button(key="compare_demo_start").click().run()
    second.button(key="compare_demo_start").click().run()  # a double click
    assert not first.exception and not second.exception
    found = {r.experiment_role: r for r in runs.list_runs()}
    assert set(found) == {"treatment", "control"} and len(runs.list_runs()) == 2
    assert found["treatment"].experiment == found["control"].experiment
    assert TrainConfig.from_dict(found["treatment"].config) == demo.DEMO_TREATMENT
    assert TrainConfig.from_dict(found["control"].config) == demo.DEMO  # balance=none
    assert found["treatment"].id in texts(page("compare").run())
