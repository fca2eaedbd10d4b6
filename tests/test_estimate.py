"""The planned run's time (modelkit.runs.estimate, the Train form's "Estimate time"):
measured on finished runs like it, never made up."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from modelkit import paths, runs
from modelkit.config import TrainConfig
from modelkit.data import load_dataset
from modelkit.runs.estimate import describe, estimate_run, images_per_epoch
from modelkit.runs.info import RunInfo
from tests.helpers.fake_trainer import fake_trainer_fixture

fake_trainer = fake_trainer_fixture(0.05, stop_timeout=30)


def finished_run(tmp_path, name, *, training_s, total_s=None, state="finished", attempts=1,
                 epochs=2, steps=10, **config) -> RunInfo:
    run_dir = tmp_path / name
    run_dir.mkdir()
    walls = {"training": training_s, "total": training_s if total_s is None else total_s}
    (run_dir / "status.json").write_text(json.dumps({"state": state, "wall_seconds": walls}))
    settings = {"backbone": "small_cnn", "image_size": 64, "batch_size": 32,
                "precision": "auto", "precision_used": "bfloat16"} | config
    return RunInfo(id=name, state=state, pid=None, run_dir=str(run_dir), config=settings,
                   epochs=epochs, steps_per_epoch=steps, attempts=attempts)


def test_the_estimate_scales_the_measured_seconds_per_image_to_the_plan(tmp_path):
    # 2 epochs x 10 steps x 32 images in 40 s and in 80 s: 1/16 and 1/8 s an image.
    basis = [finished_run(tmp_path, "a", training_s=40.0, total_s=50.0),
             finished_run(tmp_path, "b", training_s=80.0, total_s=86.0)]
    config = TrainConfig(backbone="small_cnn", epochs=4)
    guess = estimate_run(config, images_per_epoch=500, runs=basis)
    assert guess.images == 2000
    assert guess.seconds_per_image == pytest.approx((1 / 16 + 1 / 8) / 2)
    assert (guess.low_s, guess.high_s) == pytest.approx((125.0, 250.0))
    assert guess.other_s == pytest.approx(8.0)  # the median of 10 s and 6 s
    assert guess.seconds == pytest.approx(2000 * 0.09375 + 8.0)
    assert guess.basis == ("a", "b")
    assert "About 3.3 min" in describe(guess, config) and "2 earlier runs" in describe(guess, config)


def test_only_finished_runs_at_the_same_speed_count(tmp_path):
    others = [finished_run(tmp_path, "deep", training_s=10.0, backbone="small_cnn_deep"),
              finished_run(tmp_path, "px128", training_s=10.0, image_size=128),
              finished_run(tmp_path, "b64", training_s=10.0, batch_size=64),
              finished_run(tmp_path, "f32", training_s=10.0, precision="float32",
                           precision_used="float32"),
              finished_run(tmp_path, "live", training_s=10.0, state="running"),
              finished_run(tmp_path, "resumed", training_s=10.0, attempts=2)]
    config = TrainConfig(backbone="small_cnn")
    assert estimate_run(config, images_per_epoch=100, runs=others) is None
    assert "No finished run with small_cnn at 64 px, batch 32" in describe(None, config)
    # An explicit precision matches the precision a run used, whatever it asked for.
    bf16 = TrainConfig(backbone="small_cnn", precision="bfloat16")
    match = finished_run(tmp_path, "auto-bf16", training_s=64.0)
    assert estimate_run(bf16, images_per_epoch=100, runs=[*others, match]).basis == ("auto-bf16",)
    with pytest.raises(ValueError, match="images_per_epoch must be positive"):
        estimate_run(config, images_per_epoch=0, runs=[match])


def test_images_per_epoch_follows_the_balance_plan():
    manifest = load_dataset("synthetic", limit=120).manifest
    train = int((manifest["split"] == "train").sum())
    assert images_per_epoch(manifest, TrainConfig(balance="none")) == train
    assert images_per_epoch(manifest, TrainConfig(balance="race", max_repeat=3)) > train


def test_the_train_form_estimates_from_a_finished_run_and_starts_nothing(fake_trainer):
    page = str(paths.REPO_ROOT / "pages" / "train.py")
    at = AppTest.from_file(page, default_timeout=60).run()
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_estimate").click().run()
    assert not at.exception
    assert "No finished run with small_cnn_deep" in at.info[0].value
    assert runs.list_runs() == []  # estimating starts nothing

    run = runs.start_run({"source": "synthetic", "epochs": 2})
    assert runs.wait(run.id, timeout=60).state == "finished"
    at = AppTest.from_file(page, default_timeout=60).run()
    at.number_input(key="train_epochs").set_value(4)
    at.button(key="train_estimate").click().run()
    note = next(i.value for i in at.info if "earlier run" in i.value)
    assert "as measured on 1 earlier run like it" in note and "(4 epochs)" in note
    assert [r.id for r in runs.list_runs()] == [run.id]
