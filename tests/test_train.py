"""Single-process training writes the run folder of docs/CONTRACTS.md, stops on
CANCEL, resumes from Keras's BackupAndRestore checkpoint."""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels, runfolder
from modelkit.config import TrainConfig
from modelkit.training.fit import train
from tests.helpers.datasets import tiny_dataset

pytestmark = pytest.mark.slow
RACES = list(labels.UTKFACE_RACES)


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{"source": "csv", "backbone": "small_cnn", "image_size": 32, "epochs": 1, "batch_size": 8,
                          "progress_every": 2, "augment": False} | overrides)


def epoch_lines(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [line for line in lines if line["type"] == "epoch"], lines


def status(run_dir):
    return json.loads((run_dir / "status.json").read_text())


def has_checkpoint(run_dir) -> bool:
    backup = run_dir / runfolder.BACKUP_DIR
    return backup.is_dir() and any(backup.iterdir())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def finished_run(data, tmp_path_factory):
    return train(config(), run_dir=tmp_path_factory.mktemp("runs") / "one", dataset=data,
                 verbose=0)


def test_one_epoch_run_writes_every_file(finished_run, data):
    run = finished_run
    for name in ("config.json", "status.json", "metrics.jsonl", "model.keras",
                 "predictions.parquet"):
        assert (run / name).is_file(), name
    assert has_checkpoint(run)  # kept, so the run can be trained further
    assert any((run / "tensorboard").rglob("*tfevents*"))
    state = status(run)
    assert state["state"] == "finished" and state["epoch"] == state["epochs"] == 1
    assert state["error"] is None and state["steps_per_epoch"] > 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["race_classes"] == RACES and saved["age_is_range"] is False
    assert saved["n_train"] + saved["n_val"] + saved["n_test"] == len(data.manifest)
    epochs, lines = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == [1]
    for key in ("loss", "val_loss", "gender_accuracy", "val_gender_accuracy", "race_loss",
                "age_mae", "val_age_mae", "images_per_s"):
        assert np.isfinite(epochs[0][key]), key
    assert any(line["type"] == "progress" and line["batch"] == 2 for line in lines)


def test_the_run_s_wall_clock_is_printed_and_kept_by_phase(data, tmp_path, capsys):
    train(config(), run_dir=tmp_path / "timed", dataset=data, verbose=0)
    phases = status(tmp_path / "timed")["wall_seconds"]
    assert set(phases) == {"data", "training", "predictions", "total"}
    assert phases["training"] > 0
    # Each phase is rounded on its own: the parts add up to the total within that.
    assert abs(sum(v for k, v in phases.items() if k != "total") - phases["total"]) <= 0.2
    assert f"run finished in {phases['total'] / 60:.1f} min (data" in capsys.readouterr().out


def test_predictions_cover_val_and_test_with_contract_columns(finished_run, data):
    frame = pd.read_parquet(finished_run / "predictions.parquet")
    expected = data.manifest[data.manifest["split"].isin(["val", "test"])]
    assert sorted(frame["path"]) == sorted(expected["path"])
    base = ["path", "split", "gender_true", "gender_pred", "race_true", "race_pred",
            "age_group_true", "age_group_pred", "age_true", "age_pred", "age_true_is_midpoint"]
    probs = ([f"prob_gender_{g}" for g in labels.GENDERS] + [f"prob_race_{r}" for r in RACES]
             + [f"prob_age_group_{g}" for g in labels.AGE_GROUPS])
    assert list(frame.columns) == base + probs
    assert set(frame["gender_pred"]) <= set(labels.GENDERS)
    np.testing.assert_allclose(frame[[f"prob_age_group_{g}" for g in labels.AGE_GROUPS]]
                               .sum(axis=1), 1.0, rtol=1e-4)
    assert not frame["age_true_is_midpoint"].any()


def first_predictions(run_dir, n: int = 4):
    """The run's first ``n`` prediction rows and their images, as the model is fed them."""
    frame = pd.read_parquet(run_dir / "predictions.parquet").head(n)
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((32, 32)), "float32")
                       for p in frame["path"]])
    return frame, images


def test_saved_model_reloads_and_predicts_what_the_run_predicted(finished_run):
    model = keras.saving.load_model(finished_run / "model.keras")
    frame, images = first_predictions(finished_run)
    gender = model.predict(images, verbose=0)[0]
    np.testing.assert_allclose(gender, frame[[f"prob_gender_{g}" for g in labels.GENDERS]],
                               atol=1e-3)


class CancelAt(keras.callbacks.Callback):
    """Writes the CANCEL file during epoch ``epoch`` (1-based), after its first batch."""

    def __init__(self, run_dir, epoch):
        super().__init__()
        self.run_dir, self.epoch = run_dir, epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            (self.run_dir / "CANCEL").touch()


class StepCount(keras.callbacks.Callback):
    """The optimizer's step count when training ends (the saved model is a float32
    copy without the optimizer, whatever the run's precision)."""

    def on_train_end(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations)


def test_cancel_mid_epoch_then_resume_finishes_each_epoch_once(data, tmp_path):
    run = tmp_path / "run"
    train(config(epochs=3), run_dir=run, dataset=data, callbacks=[CancelAt(run, 2)], verbose=0)
    state = status(run)
    assert state["state"] == "cancelled" and state["epoch"] == 1
    assert state["batch"] == 2  # stopped at the batch boundary after the file appeared
    assert has_checkpoint(run) and not (run / "model.keras").exists()
    epochs, lines = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == [1]

    (run / "CANCEL").unlink()
    steps = StepCount()
    train(config(epochs=3), run_dir=run, dataset=data, resume=True, callbacks=[steps], verbose=0)
    epochs, lines = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    progress = [line["epoch"] for line in lines if line["type"] == "progress"]
    assert progress == sorted(progress) and len(progress) == 3 * progress.count(1)  # none twice
    assert status(run)["state"] == "finished" and (run / "model.keras").is_file()
    # The optimizer state came back with the weights: its step count is the planned
    # epochs' steps, the cut-short epoch counted once.
    assert steps.iterations == 3 * status(run)["steps_per_epoch"]


def test_cancel_in_the_first_epoch_then_resume_starts_it_again(data, tmp_path):
    run = tmp_path / "run"
    train(config(epochs=2), run_dir=run, dataset=data, callbacks=[CancelAt(run, 1)], verbose=0)
    assert status(run)["state"] == "cancelled" and status(run)["epoch"] == 0
    (run / "CANCEL").unlink()
    train(config(epochs=2), run_dir=run, dataset=data, resume=True, verbose=0)
    epochs, _ = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == [1, 2] and status(run)["state"] == "finished"


def test_a_cluster_worker_is_told_to_use_the_multi_worker_trainer(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="train_multi_worker"):
        train(config(), run_dir=tmp_path / "run", dataset=data, verbose=0)


class FailAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("disk on fire")


def test_a_crash_is_reported_then_resume_continues_after_the_last_epoch(data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(config(epochs=2), run_dir=run, dataset=data, callbacks=[FailAfterEpoch()],
              verbose=0)
    state = status(run)
    assert state["state"] == "failed" and "disk on fire" in state["error"]
    assert "Traceback" in state["traceback"] and state["epoch"] == 1

    train(config(epochs=2), run_dir=run, dataset=data, resume=True, verbose=0)
    epochs, _ = epoch_lines(run)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert status(run)["state"] == "finished"


def test_a_source_without_race_labels_trains_with_the_race_head_masked(tmp_path):
    data = tiny_dataset(tmp_path, n=32, with_race=False)
    run = train(config(), run_dir=tmp_path / "run", dataset=data, verbose=0)
    epochs, _ = epoch_lines(run)
    assert np.isfinite(epochs[0]["loss"]) and epochs[0]["race_loss"] == 0.0
    frame = pd.read_parquet(run / "predictions.parquet")
    assert frame["race_true"].isna().all() and frame["race_pred"].isna().all()
    assert frame["gender_pred"].notna().all()
    # The run records the heads it trained, for every later prediction with its model.
    assert json.loads((run / "config.json").read_text())["heads"] == ["gender", "age"]


def test_heartbeat_keeps_beating_during_a_long_step(data, tmp_path):
    """A step longer than a second must not look like a dead run."""
    seen = set()

    class SlowStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:  # hold the training thread 2.5 s, watching status.json
                deadline = time.time() + 2.5
                while time.time() < deadline:
                    seen.add(status(tmp_path / "run")["heartbeat"])

    train(config(), run_dir=tmp_path / "run", dataset=data, callbacks=[SlowStep()], verbose=0)
    assert len(seen) >= 3  # at least one beat a second


@pytest.mark.parametrize("chosen", ["bfloat16", "float16"])
def test_a_mixed_precision_run_trains_and_hands_on_a_float32_model(chosen, data, tmp_path,
                                                                   capsys):
    """A bfloat16 run (auto's choice on a CPU with AMX/AVX512-BF16 or a recent GPU) and a
    float16 one (an older GPU's; Keras wraps Adam in a loss-scale optimizer), forced here
    on the CPU with the weight average on. Each finishes with finite losses, says its
    precision in its log and config.json, leaves the process's policy as it was, and
    saves a float32 model that predicts what the run wrote and explains and exports."""
    from modelkit import export, saliency

    run = train(config(epochs=2, ema=True, precision=chosen), run_dir=tmp_path / chosen,
                dataset=data, verbose=0)
    assert status(run)["state"] == "finished", status(run)["error"]
    assert f"precision: {chosen} (asked for {chosen}" in capsys.readouterr().out
    saved = json.loads((run / "config.json").read_text())
    assert (saved["precision"], saved["precision_used"]) == (chosen, chosen)
    assert keras.mixed_precision.global_policy().name == "float32"
    epochs, _ = epoch_lines(run)
    assert all(np.isfinite(e["loss"]) and np.isfinite(e["val_loss"]) for e in epochs)
    model = keras.saving.load_model(run / "model.keras")
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    frame, images = first_predictions(run)
    outputs = model.predict(images, verbose=0)
    np.testing.assert_allclose(outputs[0], frame[[f"prob_gender_{g}" for g in labels.GENDERS]],
                               atol=1e-5)
    maps = saliency.explain(saliency.load_run_model(run), images, head="gender", method="gradcam")
    assert maps.shape == (4, 32, 32) and np.isfinite(maps).all() and maps.max() > 0
    exported = export.export_run(run, out=tmp_path / f"{chosen}-tflite", format="tflite")
    assert (exported.path / export.TFLITE_FILE).stat().st_size > 0
