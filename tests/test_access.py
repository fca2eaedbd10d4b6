"""Who may do what (modelkit.access): the access file, the roles checked in the
functions that act, the quota, and the audit log of who did what."""

from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest

from modelkit import access, runs
from modelkit.access import AccessDenied, Actor, QuotaExceeded, read_audit
from modelkit.access.access_file import load_access_list, parse_access_list
from modelkit.curation import corrections as cx
from modelkit.runs import registry
from tests.helpers.fake_trainer import fake_trainer_fixture

REPO = Path(__file__).resolve().parents[1]
ACCESS_TOML = """
queue_quota = 2
[users]
"alice@lab.example" = "admin"
"bob@lab.example" = "trainer"
"carol@lab.example" = "curator"
"*@lab.example" = "viewer"
[quotas]
"bob@lab.example" = 1
"""
PEOPLE = parse_access_list(ACCESS_TOML)
ALICE, BOB, CAROL, VIEWER = (PEOPLE.actor(f"{n}@lab.example") for n in ("alice", "bob", "carol", "dan"))
# A second trainer with the default quota, for someone else's run.
ERIN = Actor(user="erin@lab.example", role="trainer", queue_quota=2)

# Long batches: the runs stay queued or running while a test acts on them.
fake_trainer = fake_trainer_fixture(2.0, stop_timeout=30)


# ----------------------------------------------------------------------------- the file
def test_the_access_file_maps_addresses_and_domains_to_roles_and_quotas():
    assert (ALICE.role, BOB.role, CAROL.role, VIEWER.role) == ("admin", "trainer", "curator", "viewer")
    assert PEOPLE.actor("BOB@Lab.Example") == BOB  # addresses compare without case
    assert BOB.queue_quota == 1 and VIEWER.queue_quota == 2
    assert PEOPLE.actor("mallory@elsewhere.example") is None  # a stranger is not let in
    assert PEOPLE.actor(None) is None and PEOPLE.actor("no-at-sign") is None


@pytest.mark.parametrize("text, message", [
    ('[users]\n"a@b.org" = "owner"', "a role is one of viewer, trainer, curator, admin"),
    ('[users]\n"a*@b.org" = "viewer"', "neither an e-mail address nor"),
    ('[users]\n"everyone" = "viewer"', "neither an e-mail address nor"),
    ('queue_quota = -1', "0 or more"),
    ('[user]\n"a@b.org" = "viewer"', "unknown key"),
    ('[users\n', "not valid TOML"),
])
def test_a_bad_access_file_is_refused_naming_the_entry(text, message):
    with pytest.raises(ValueError, match=message):
        parse_access_list(text, source="access.toml")


def test_the_access_file_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(access.ACCESS_FILE_ENV, raising=False)
    assert load_access_list() is None
    monkeypatch.setenv(access.ACCESS_FILE_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match="no access file"):
        load_access_list()
    (tmp_path / "access.toml").write_text(ACCESS_TOML)
    monkeypatch.setenv(access.ACCESS_FILE_ENV, str(tmp_path / "access.toml"))
    assert load_access_list().actor("bob@lab.example") == BOB


# ----------------------------------------------------------------------------- roles, where they act
def test_a_viewer_calling_start_run_directly_is_refused_and_audited(runs_root):
    with pytest.raises(AccessDenied, match="viewer; run.start needs the trainer role"):
        runs.start_run({"epochs": 1}, runs_root=runs_root, actor=VIEWER)
    assert runs.list_runs(runs_root=runs_root) == []  # nothing queued
    (line,) = read_audit(runs_root)
    assert (line["user"], line["action"], line["result"]) == ("dan@lab.example", "run.start", "refused")
    assert "trainer role" in line["detail"]


def test_a_trainer_starts_and_cancels_their_own_run_and_the_run_names_them(runs_root, fake_trainer):
    run = runs.start_run({"epochs": 2}, runs_root=runs_root, actor=BOB)
    assert runs.show(run.id, runs_root=runs_root).started_by == "bob@lab.example"
    runs.cancel(run.id, runs_root=runs_root, actor=BOB)
    shown = runs.wait(run.id, runs_root=runs_root, timeout=30)
    assert (shown.state, shown.cancelled_by) == ("cancelled", "bob@lab.example")
    runs.resume(run.id, runs_root=runs_root, actor=BOB)
    assert runs.show(run.id, runs_root=runs_root).resumed_by == "bob@lab.example"
    assert [(x["action"], x["target"], x["result"]) for x in read_audit(runs_root)] == [
        ("run.start", run.id, "ok"), ("run.cancel", run.id, "ok"), ("run.resume", run.id, "ok")]


def test_only_an_admin_acts_on_someone_elses_run(runs_root, fake_trainer):
    run = runs.start_run({"epochs": 2}, runs_root=runs_root, actor=ERIN)
    with pytest.raises(AccessDenied, match="only their own runs; this one was started by erin"):
        runs.cancel(run.id, runs_root=runs_root, actor=BOB)
    with pytest.raises(AccessDenied, match="only their own runs"):
        runs.delete(run.id, runs_root=runs_root, actor=BOB)
    assert runs.show(run.id, runs_root=runs_root).cancelled_by is None  # the refusal changed nothing
    runs.cancel(run.id, runs_root=runs_root, actor=ALICE)
    assert runs.wait(run.id, runs_root=runs_root, timeout=30).cancelled_by == "alice@lab.example"
    results = [(x["user"], x["action"], x["result"]) for x in read_audit(runs_root)]
    assert ("bob@lab.example", "run.cancel", "refused") in results
    assert ("bob@lab.example", "run.delete", "refused") in results
    assert ("alice@lab.example", "run.cancel", "ok") in results


def test_a_deleted_run_says_who_deleted_it(runs_root, fake_trainer):
    run = runs.start_run({"epochs": 2}, runs_root=runs_root, actor=BOB)
    runs.cancel(run.id, runs_root=runs_root, actor=BOB)
    runs.wait(run.id, runs_root=runs_root, timeout=30)
    runs.delete(run.id, runs_root=runs_root, actor=BOB)
    with pytest.raises(ValueError, match=f"run '{run.id}' was deleted by bob@lab.example on "):
        runs.show(run.id, runs_root=runs_root)
    with pytest.raises(ValueError, match="was deleted by bob@lab.example"):
        runs.resume(run.id, runs_root=runs_root)


def test_the_command_line_acts_as_the_os_user_an_admin(runs_root, fake_trainer):
    me = access.local_actor()
    assert me.user.startswith("os:") and me.role == "admin" and me.queue_quota is None
    run = runs.start_run({"epochs": 1}, runs_root=runs_root)
    assert runs.show(run.id, runs_root=runs_root).started_by == me.user
    runs.cancel(run.id, runs_root=runs_root, actor=ALICE)  # and an admin may cancel it


# ----------------------------------------------------------------------------- the quota
def test_a_start_past_the_quota_is_refused_but_a_double_click_is_not(runs_root, fake_trainer):
    first = runs.start_run({"epochs": 2}, runs_root=runs_root, actor=BOB)
    again = runs.start_run({"epochs": 2}, runs_root=runs_root, actor=BOB)  # the double click
    assert again.id == first.id
    with pytest.raises(QuotaExceeded, match="already has 1 run.*their quota is 1"):
        runs.start_run({"epochs": 3}, runs_root=runs_root, actor=BOB)
    assert [r.id for r in runs.list_runs(runs_root=runs_root)] == [first.id]
    runs.cancel(first.id, runs_root=runs_root, actor=BOB)
    runs.wait(first.id, runs_root=runs_root, timeout=30)
    assert runs.start_run({"epochs": 3}, runs_root=runs_root, actor=BOB).started_by == BOB.user


def test_an_experiment_past_the_quota_queues_neither_run(runs_root, fake_trainer):
    with pytest.raises(QuotaExceeded, match="this adds 2"):
        runs.start_experiment({"epochs": 1, "balance": "race"}, control={"balance": "none"},
                              runs_root=runs_root,
                              actor=BOB)
    assert runs.list_runs(runs_root=runs_root) == []
    assert not [p for p in runs_root.iterdir() if p.is_dir()]  # no half-made run folder


# ----------------------------------------------------------------------------- labels
def test_deciding_a_label_needs_a_curator_and_records_who(tmp_path, runs_root):
    file = tmp_path / "corrections.jsonl"
    decide = dict(path="a.jpg", attribute="gender", action="set", value="male",
                  race_classes=("white", "black"), runs_root=runs_root)
    with pytest.raises(AccessDenied, match="label.decide needs the curator role"):
        cx.record_decision(file, actor=BOB, **decide)
    assert cx.read_decisions(file) == []
    cx.record_decision(file, actor=CAROL, **decide)
    (decision,) = cx.read_decisions(file)
    assert decision.by == "carol@lab.example"
    assert [x["result"] for x in read_audit(runs_root)] == ["refused", "ok"]


def test_a_corrections_file_from_before_by_was_recorded_still_reads(tmp_path):
    file = tmp_path / "old.jsonl"
    file.write_text(json.dumps({"path": "a.jpg", "attribute": "age", "action": "set",
                                "value": 30.0, "given": 3.0, "time": 1.0, "note": None}) + "\n")
    (decision,) = cx.read_decisions(file)
    assert decision.value == 30.0 and decision.by is None


# ----------------------------------------------------------------------------- the registry
def test_an_older_registry_gains_the_who_columns(runs_root):
    runs_root.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(runs_root / registry.FILENAME)
    for step in registry.MIGRATIONS[:4]:
        for statement in step:
            con.execute(statement)
    con.execute("PRAGMA user_version = 4")
    con.execute("INSERT INTO runs (id, state, config, created) VALUES ('old', 'finished', '{}', 1)")
    con.commit()
    con.close()
    (old,) = runs.list_runs(runs_root=runs_root)
    assert (old.id, old.started_by, old.cancelled_by) == ("old", None, None)
    with pytest.raises(AccessDenied, match="started before sign-in was on"):
        runs.delete("old", runs_root=runs_root, actor=BOB)


def test_the_audit_log_skips_a_line_cut_short_by_a_crash(runs_root):
    access.audit.append(runs_root, BOB, "run.start", target="x", result="ok")
    with access.audit.audit_path(runs_root).open("a") as f:
        f.write('{"time": "2026-')
    assert [x["target"] for x in read_audit(runs_root)] == ["x"]


# ----------------------------------------------------------------------------- the pages
GUARDED = {"start_run", "start_experiment", "start_job", "start_prediction", "start_ranking",
           "cancel", "resume", "delete", "record_decision", "add_model"}


def test_every_action_the_dashboard_calls_names_its_actor():
    # Without actor= a function acts as the server's OS user, an admin: a page that forgot
    # it would let a viewer act. The roles are checked in these functions, so each call
    # from the dashboard must say who is acting.
    missing = []
    for file in sorted([*(REPO / "dashboard").glob("*.py"), *(REPO / "pages").glob("*.py")]):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in GUARDED and "actor" not in {k.arg for k in node.keywords}:
                    missing.append(f"{file.name}:{node.lineno} {name}")
    assert not missing, f"calls without actor=: {missing}"


def test_a_viewer_sees_the_train_page_without_the_run_form(runs_root):
    from streamlit.testing.v1 import AppTest

    from dashboard import signin

    page = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60)
    page.session_state[signin.ACTOR_KEY] = VIEWER
    page.run()
    assert not page.exception
    assert not [b for b in page.button if b.label == "Start training"]
    assert any("run.start needs trainer" in c.value for c in page.caption)
