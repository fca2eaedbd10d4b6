"""Stand-in for ``modelkit.training.fit``: the run-folder contract in milliseconds.

Served in place of the real module by ``sitecustomize.py`` beside it. It writes the
run folder through the real trainer's writers, so the files are the real ones:
``status.json`` by ``runfolder.StatusWriter`` (its heartbeat thread; ``failed`` with
the error and its traceback when training raises), ``metrics.jsonl`` by
``runfolder.MetricsFile`` with ``progress_line`` / ``epoch_line``, and the file names
of ``modelkit.runfolder``. Only the training is fake: 4 batches an epoch of
``FAKE_BATCH_S`` seconds each (the fake's own knob, read by nothing else; default 0.05),
its measured time in ``wall_seconds`` when it finishes, a checkpoint under
``checkpoints/`` after every epoch, the ``CANCEL`` file honoured at a batch boundary
(checkpoint kept, state ``cancelled``), and ``resume`` going on from the checkpoint.

The dataset is not read, but its folder is checked by the readers' own check, so a
missing root fails with the real trainer's error.
"""

import os
import time
from pathlib import Path

from modelkit import runfolder
from modelkit.data.sources.raw import existing_dir
from modelkit.training import artifacts

STEPS = 4
CHECKPOINT = runfolder.BACKUP_DIR / "fake_epoch.json"  # where model.fit's backup goes


def check_dataset(config) -> None:
    """The readers' check of ``config.root`` (``FileNotFoundError`` for a missing
    folder), made where the reader of ``config.source`` makes it: on a given root, and
    on none where the source needs one (not the embedded synthetic set, not a label
    file beside its images)."""
    if config.root is not None or (config.source != "synthetic" and config.labels is None):
        existing_dir(config.root, source=config.source)


def train(config, *, run_dir, resume=False):
    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    config = artifacts.run_config(config, run_dir=run, resume=resume)
    batch_s = float(os.environ.get("FAKE_BATCH_S", "0.05"))
    checkpoint = run / CHECKPOINT
    saved = runfolder.read_json(checkpoint) if resume else None
    epoch = int(saved["epoch"]) if saved else 0
    print("fake trainer from epoch", epoch, flush=True)
    status = runfolder.StatusWriter(run, epochs=config.epochs)
    status.update(epoch=epoch, steps_per_epoch=STEPS)
    status.write()
    metrics = runfolder.MetricsFile(run)

    def save(epoch):
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        runfolder.write_json(checkpoint, {"epoch": epoch})

    with status.failing_on_error():
        check_dataset(config)
        metrics.truncate(after_epoch=epoch)  # the lines of the epoch this run redoes
        began = time.perf_counter()
        while epoch < config.epochs:
            for batch in range(1, STEPS + 1):
                time.sleep(batch_s)  # the batch's "training"
                if runfolder.cancel_requested(run):
                    save(epoch)
                    status.close(state="cancelled", epoch=epoch, batch=batch)
                    return run
                metrics.append(artifacts.progress_line(
                    epoch=epoch + 1, batch=batch, steps=STEPS, loss=1.0 / batch,
                    images_per_s=100.0))
                status.update(epoch=epoch, batch=batch)
            epoch += 1
            save(epoch)
            metrics.append(artifacts.epoch_line(
                epoch=epoch, images_per_s=100.0,
                logs={"loss": 1.0 / epoch, "val_loss": 1.1 / epoch, "gender_accuracy": 0.5,
                      "val_gender_accuracy": 0.5 + epoch / 100, "val_age_mae": 10 - epoch}))
            status.update(epoch=epoch, batch=STEPS)
    training = round(time.perf_counter() - began, 3)  # the phases, as fit.py's PhaseTimer
    status.close(state="finished", epoch=epoch, batch=STEPS,
                 wall_seconds={"training": training, "total": training})
    return run
