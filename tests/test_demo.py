"""The newcomer's demo (modelkit.runs.demo): one small run, or one experiment pair,
however often the button is pressed while it trains."""

from __future__ import annotations

from modelkit import runs
from modelkit.runs import demo
from modelkit.runs.experiments import control_config
from tests.helpers.fake_trainer import install_fake_trainer


def test_the_demo_is_a_small_synthetic_run_and_its_experiment_varies_balance_only():
    assert (demo.DEMO.source, demo.DEMO.backbone, demo.DEMO.root) == ("synthetic", "small_cnn", None)
    # Small enough for about 90 s on 2 CPU cores (docs/BENCHMARKS.md §16).
    assert demo.DEMO.image_size <= 48 and demo.DEMO.limit * demo.DEMO.epochs <= 30_000
    assert demo.DEMO_TREATMENT.differences(demo.DEMO) == {"balance": ("race", "none")}
    assert control_config(demo.DEMO_TREATMENT, demo.DEMO_CONTROL) == demo.DEMO


def test_a_second_start_returns_the_demo_under_way_and_a_later_one_starts_anew(monkeypatch):
    install_fake_trainer(monkeypatch)
    monkeypatch.setenv("FAKE_BATCH_S", "0.2")
    first = demo.start_demo()
    assert demo.start_demo().id == first.id
    assert [r.id for r in demo.pending_demos()] == [first.id]
    assert runs.wait(first.id, timeout=60).state == "finished"
    assert demo.pending_demos() == []
    later = demo.start_demo()
    assert later.id != first.id
    pair = demo.start_demo_experiment()
    assert [r.id for r in demo.start_demo_experiment()] == [r.id for r in pair]
    assert [r.id for r in demo.pending_demos(experiment=True)] == [r.id for r in pair]
    for run in (later, *pair):
        runs.wait(run.id, timeout=60)
    assert len(runs.list_runs()) == 4
