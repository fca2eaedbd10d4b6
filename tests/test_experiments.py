"""Remedy experiments (modelkit.runs.experiments): a run and its control, linked.

The runs go through the real launcher, supervisor and ``python -m modelkit train``;
only ``modelkit.training.fit`` is the stand-in (tests/helpers/fake_trainer.py).
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from modelkit import runs
from modelkit.__main__ import main
from modelkit.config import TrainConfig
from modelkit.runs import experiments as xp
from modelkit.runs import registry
from tests.helpers.fake_trainer import install_fake_trainer

ASKED = {"source": "synthetic", "epochs": 1, "balance": "race", "seed": 7, "limit": 300}


@pytest.fixture
def fake_trainer(monkeypatch):
    return install_fake_trainer(monkeypatch)


def config_file(run: runs.RunInfo) -> dict:
    return json.loads(Path(run.run_dir, "config.json").read_text())


def test_an_experiment_is_two_linked_runs_that_differ_only_in_the_control(fake_trainer):
    treatment, control = runs.start_experiment(ASKED, control={"balance": "none"})
    assert treatment.experiment == control.experiment and treatment.experiment
    assert (treatment.experiment_role, control.experiment_role) == ("treatment", "control")
    mine, theirs = config_file(treatment), config_file(control)
    assert {k for k in mine if mine[k] != theirs[k]} == {"balance"}
    assert (mine["balance"], theirs["balance"], mine["seed"], theirs["seed"]) == ("race", "none", 7, 7)
    for run in (treatment, control):
        assert json.loads(Path(run.run_dir, "launch.json").read_text())["experiment"] == {
            "id": treatment.experiment, "role": run.experiment_role}
    # One slot (the default): the control waits for the run as configured.
    assert treatment.state == "running" and control.state == "queued"
    done = [runs.wait(r.id, timeout=60) for r in (treatment, control)]
    assert [r.state for r in done] == ["finished", "finished"]
    assert done[1].started >= done[0].ended - 1
    listed = {r.id: r for r in runs.list_runs()}
    assert listed[control.id].experiment == treatment.experiment


def test_a_double_click_starts_one_experiment(fake_trainer):
    first = runs.start_experiment(ASKED, control={"balance": "none"})
    second = runs.start_experiment(dict(ASKED), control={"balance": "none"})
    assert [r.id for r in second] == [r.id for r in first]
    keyed = runs.start_experiment({**ASKED, "epochs": 2}, control={"augment": False},
                                  idempotency_key="click-1")
    again = runs.start_experiment({**ASKED, "epochs": 2}, control={"augment": False},
                                  idempotency_key="click-1")
    assert [r.id for r in again] == [r.id for r in keyed]
    assert len(runs.list_runs()) == 4
    for run in runs.list_runs():
        if not runs.show(run.id).is_final:
            runs.cancel(run.id)
        runs.wait(run.id, timeout=60)


@pytest.mark.parametrize(("control", "message"), [
    ({}, "needs at least one setting to vary"),
    ({"seed": 1}, "'seed' cannot be varied.*same images, split and seed"),
    ({"limit": 100}, "'limit' cannot be varied"),
    ({"colour": "red"}, "'colour' is not a train setting; vary one of: .*balance"),
    ({"balance": "race"}, r"control \(balance=race\) is what the run already has"),
    ({"balance": "sideways"}, "balance must be one of none, age_group"),
    ({"epochs": 0}, "epochs must be a positive integer"),
])
def test_a_bad_control_is_refused_and_nothing_is_queued(control, message):
    with pytest.raises(ValueError, match=message):
        runs.start_experiment(ASKED, control=control)
    assert runs.list_runs() == []


@pytest.mark.parametrize(("item", "expected"), [
    ("balance=none", ("balance", "none")),
    ("epochs=5", ("epochs", 5)),
    ("lr=1e-3", ("lr", 0.001)),
    ("augment=false", ("augment", False)),
    ("augment=yes", ("augment", True)),
    ("target=1200", ("target", 1200)),
    ("loss_weights=race=2", ("loss_weights", {"gender": 1.0, "race": 2.0, "age": 1.0})),
    ("max-repeat=4", ("max_repeat", 4)),
    ("limit=none", ("limit", None)),
])
def test_control_items_take_the_type_of_their_setting(item, expected):
    assert xp.parse_control_item(item) == expected


def test_parse_control_refuses_a_setting_given_twice():
    with pytest.raises(ValueError, match="balance is given twice"):
        xp.parse_control(["balance=none", "balance=race"])


def test_train_control_queues_an_experiment_and_prints_both_ids(fake_trainer, capsys):
    assert main(["train", "--source", "synthetic", "--epochs", "1", "--balance", "race",
                 "--control", "balance=none"]) == 0
    out, err = capsys.readouterr()
    ids = out.split()
    assert len(ids) == 2 and "balance: race → none" in err
    treatment, control = (runs.show(i) for i in ids)
    assert treatment.experiment == control.experiment
    assert (treatment.config["balance"], control.config["balance"]) == ("race", "none")

    assert main(["train", "--source", "synthetic", "--epochs", "2", "--control", "augment=false",
                 "--control", "epochs=3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["role"] for r in payload["runs"]] == ["treatment", "control"]
    control = runs.show(payload["runs"][1]["id"])
    assert (control.config["augment"], control.config["epochs"]) == (False, 3)
    assert control.experiment == payload["experiment"]
    for run in runs.list_runs():
        runs.wait(run.id, timeout=60)


@pytest.mark.parametrize(("flag", "message"), [
    ("balance", "control setting 'balance': expected KEY=VALUE.*KEY is one of: age_l1, age_sigma"),
    ("colour=red", "'colour' is not a train setting; vary one of: age_l1, age_sigma, .*augment, "
                   "backbone, backbone_lr_scale, balance, batch_size,"),
    ("epochs=many", "control setting epochs=many: epochs takes an integer"),
    ("lr=fast", "control setting lr=fast: lr takes a number"),
    ("augment=maybe", "control setting augment=maybe: augment is true or false"),
    ("target=lots", "control setting target=lots: balance target must be max, median"),
])
def test_train_control_parse_errors_name_the_item_and_the_settings(flag, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--control", flag])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    listed = err.rpartition(": ")[2].split(", ") if "one of:" in err else []
    assert "seed" not in listed and "source" not in listed  # what may not vary is not offered


@pytest.mark.parametrize(("argv", "message"), [
    (["--control", "seed=3"], "'seed' cannot be varied"),
    (["--balance", "none", "--control", "balance=none"], "what the run already has"),
    (["--control", "balance=sideways"], "balance must be one of"),
    (["--control", "balance=none", "--control", "balance=race"], "--control balance is given twice"),
    (["--balance", "race", "--control", "balance=none", "--workers", "2"], "drop --workers"),
])
def test_train_control_refusals_queue_nothing(argv, message, capsys):
    assert main(["train", "--source", "synthetic", *argv]) == 2
    assert message in capsys.readouterr().err
    assert runs.list_runs() == []


def version_2_registry(root: Path) -> None:
    """A registry as FaceScope wrote it before experiments (schema version 2)."""
    root.mkdir(parents=True)
    (root / "old-run").mkdir()
    con = sqlite3.connect(root / "registry.sqlite", isolation_level=None)
    for step in registry.MIGRATIONS[:2]:
        for statement in step:
            con.execute(statement)
    con.execute("PRAGMA user_version = 2")
    con.execute("INSERT INTO runs (id, state, config, created, epoch, epochs) VALUES "
                "('old-run', 'finished', ?, 100, 2, 2)", (json.dumps({"source": "synthetic"}),))
    con.close()


def test_a_version_2_registry_is_migrated_and_takes_experiments(tmp_path, fake_trainer):
    root = tmp_path / "old-root"
    version_2_registry(root)
    [old] = runs.list_runs(runs_root=root)
    assert (old.id, old.state, old.experiment, old.experiment_role) == ("old-run", "finished",
                                                                     None, None)
    con = sqlite3.connect(root / "registry.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == registry.SCHEMA_VERSION >= 3
    assert {"experiment", "experiment_role"} <= {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    assert "runs_experiment" in {r[1] for r in con.execute("PRAGMA index_list(runs)")}
    con.close()
    pair = runs.start_experiment({"epochs": 1, "balance": "gender"}, control={"balance": "none"},
                                 runs_root=root)
    assert [runs.wait(r.id, runs_root=root, timeout=60).state for r in pair] == ["finished"] * 2


def test_a_rebuilt_registry_keeps_the_experiment_links(fake_trainer):
    pair = runs.start_experiment(ASKED, control={"balance": "none"})
    for run in pair:
        runs.wait(run.id, timeout=60)
    root = Path(pair[0].run_dir).parent
    for name in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    runs.reconcile()
    adopted = {r.id: r for r in runs.list_runs()}
    assert [(adopted[r.id].experiment, adopted[r.id].experiment_role) for r in pair] == [
        (pair[0].experiment, "treatment"), (pair[0].experiment, "control")]


def test_groups_partners_and_what_the_control_changes(fake_trainer):
    alone = runs.start_run({"epochs": 1})
    pair = runs.start_experiment(ASKED, control={"balance": "none", "epochs": 2})
    groups = xp.group_experiments(runs.list_runs())
    assert list(groups) == [pair[0].experiment]
    assert {role: r.id for role, r in groups[pair[0].experiment].items()} == {
        "treatment": pair[0].id, "control": pair[1].id}
    assert [r.id for r in xp.partners(pair[1].id)] == [pair[0].id]
    assert xp.partners(alone.id) == []
    assert xp.describe_control(*pair) == "epochs: 1 → 2, balance: race → none"
    assert xp.describe_control(TrainConfig(), TrainConfig(lr=0.1)) == "lr: 0.002 → 0.1"
    for run in (alone, *pair):
        runs.wait(run.id, timeout=60)


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, holding the user's answer."""

    def isatty(self) -> bool:
        return True


def test_runs_delete_asks_before_deleting_a_run_of_an_experiment(fake_trainer, capsys,
                                                                 monkeypatch):
    treatment, control = runs.start_experiment(ASKED, control={"balance": "none"})
    for run in (treatment, control):
        runs.wait(run.id, timeout=60)
    capsys.readouterr()
    # Not a terminal (a script): refused, naming the other run and --yes.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["runs", "delete", control.id]) == 2
    err = capsys.readouterr().err
    assert f"experiment {treatment.experiment} with {treatment.id} (treatment)" in err
    assert "--yes" in err and Path(control.run_dir).exists()
    # A terminal: "n" keeps it, "y" deletes it; the run as configured is kept either way.
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main(["runs", "delete", control.id]) == 1
    assert Path(control.run_dir).exists()
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main(["runs", "delete", control.id]) == 0
    assert not Path(control.run_dir).exists()
    assert f"{treatment.id} kept" in capsys.readouterr().out
    kept = runs.show(treatment.id)
    assert kept.state == "finished" and kept.experiment == treatment.experiment
    assert Path(kept.run_dir).is_dir()


def test_runs_delete_yes_deletes_without_asking_and_keeps_the_partner(fake_trainer):
    treatment, control = runs.start_experiment(ASKED, control={"balance": "none"})
    alone = runs.start_run({"epochs": 1})
    for run in (treatment, control, alone):
        runs.wait(run.id, timeout=60)
    assert main(["runs", "delete", treatment.id, "--yes"]) == 0
    assert main(["runs", "delete", alone.id]) == 0  # in no experiment: nothing to ask
    assert [r.id for r in runs.list_runs()] == [control.id]
    assert xp.partners(control.id) == []
