"""A setting the trainer would refuse is refused at the door, at once, and nothing is
queued: by ``TrainConfig.validate``, ``train`` (foreground and ``--background``) and
the launcher. A config file's typo is named, with the nearest setting."""

from __future__ import annotations

import json

import pytest

from modelkit import runs
from modelkit.__main__ import main
from modelkit.config import RESOLVED_KEYS, TrainConfig
from modelkit.runs.launcher import start_run


def nothing_queued(runs_root) -> bool:
    return not runs_root.exists() or not [p for p in runs_root.iterdir() if p.is_dir()]


@pytest.mark.parametrize(("flags", "expected"), [
    (["--backbone", "inception_resnet_v2", "--image-size", "64"],
     ["image_size 64", "inception_resnet_v2", "at least 75"]),
    (["--weights", "no/such/weights.keras"], ["weights file no/such/weights.keras not found"]),
    (["--corrections", "no/such/corrections.csv"], ["corrections file no/such/corrections.csv not found"]),
    (["--weights", "imagenet"], ["small_cnn_deep has no imagenet weights"]),
    (["--weights", "model.h5"], ["must be none or imagenet or a .keras / .weights.h5 file"]),
])
def test_train_background_refuses_at_once_and_queues_nothing(flags, expected, runs_root, capsys):
    code = main(["train", "--background", "--runs-root", str(runs_root), *flags])
    err = capsys.readouterr().err
    assert code == 2
    for text in expected:
        assert text in err
    assert nothing_queued(runs_root)


def test_a_misspelt_key_in_a_config_file_is_named_with_the_nearest(tmp_path, runs_root, capsys):
    file = tmp_path / "settings.json"
    file.write_text(json.dumps({"epocs": 3}))
    code = main(["train", "--background", "--config", str(file), "--runs-root", str(runs_root)])
    assert code == 2
    assert "unknown train setting 'epocs' (did you mean 'epochs'?)" in capsys.readouterr().err
    assert nothing_queued(runs_root)


def test_the_launcher_refuses_a_typo_and_a_missing_file(runs_root):
    with pytest.raises(ValueError, match="'batchsize' .*did you mean 'batch_size'"):
        start_run({"batchsize": 8}, runs_root=runs_root)
    with pytest.raises(ValueError, match="weights file /nowhere/w.keras not found"):
        start_run(TrainConfig(weights="/nowhere/w.keras"), runs_root=runs_root)
    assert runs.list_runs(runs_root=runs_root) == []


def test_a_dict_for_the_launcher_may_not_carry_a_run_s_resolved_entries(runs_root):
    with pytest.raises(ValueError, match="unknown train setting 'race_classes'"):
        start_run({"race_classes": ["White"]}, runs_root=runs_root)


def test_a_run_s_config_json_loads_with_its_resolved_entries(tmp_path):
    saved = TrainConfig(epochs=2).to_dict() | {key: None for key in RESOLVED_KEYS}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert TrainConfig.load(tmp_path / "config.json").epochs == 2


def test_an_old_run_s_config_loads_after_its_weights_file_moved(tmp_path):
    # Building a config checks values only; the files are checked when training starts.
    config = TrainConfig(weights=str(tmp_path / "gone.keras"))
    with pytest.raises(ValueError, match="gone.keras not found"):
        config.validate()


def test_the_trainer_writes_only_resolved_entries_the_list_names(tmp_path):
    from modelkit.training.artifacts import write_run_config

    with pytest.raises(ValueError, match="unknown resolved config entry 'n_images'"):
        write_run_config(tmp_path, TrainConfig(), race_classes=["White"], heads={"gender"},
                         age_is_range=False, split_sizes={}, n_images=3)
    write_run_config(tmp_path, TrainConfig(), race_classes=["White"], heads={"age", "gender"},
                     age_is_range=False, split_sizes={"train": 3})
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["heads"] == ["gender", "age"] and written["n_train"] == 3


def test_resume_without_flags_keeps_the_run_s_planned_epochs(tmp_path):
    from modelkit.cli.train import add_parser, config_from_args

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    TrainConfig(epochs=2, image_size=48).save(run_dir / "config.json")
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--run-dir", str(run_dir), "--resume"])
    assert (config_from_args(args).epochs, config_from_args(args).image_size) == (2, 48)
    args = parser.parse_args(["train", "--run-dir", str(run_dir), "--resume", "--epochs", "4"])
    assert config_from_args(args).epochs == 4


@pytest.mark.slow
def test_cli_resume_of_a_finished_two_epoch_run_trains_no_third_epoch(tmp_path):
    run_dir = tmp_path / "run"
    common = ["--run-dir", str(run_dir)]
    assert main(["train", "--source", "synthetic", "--image-size", "32", "--epochs", "2",
                 "--batch-size", "16", "--no-augment", "--no-ema", *common]) == 0
    assert main(["train", "--resume", *common]) == 0
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["type"] == "epoch"]
    assert epochs == [1, 2]
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["epoch"], status["epochs"]) == ("finished", 2, 2)
