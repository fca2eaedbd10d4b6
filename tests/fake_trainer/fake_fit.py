"""Stand-in for ``modelkit.training.fit``: the run-folder contract in milliseconds.

Served in place of the real module by ``sitecustomize.py`` beside it. It keeps the
contract of docs/CONTRACTS.md that the launcher and the pages rely on: ``status.json``
(written atomically, with pid and heartbeat), ``metrics.jsonl`` progress and epoch
lines, a checkpoint under ``checkpoints/``, the ``CANCEL`` file honoured at a batch
boundary (checkpoint kept, state ``cancelled``), ``resume`` going on from the
checkpoint, and a failure written as ``failed`` with the error and its traceback.

Knobs (the fake's own, read by nothing else): ``FAKE_BATCH_S`` seconds per batch
(default 0.05); 4 batches per epoch. A non-synthetic source whose ``root`` is not a
folder fails as the real trainer does on a missing dataset.
"""

import json
import os
import time
import traceback
from pathlib import Path

STEPS = 4


def train(config, *, run_dir, resume=False):
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    batch_s = float(os.environ.get("FAKE_BATCH_S", "0.05"))
    checkpoint = run / "checkpoints" / "last.json"

    def status(state, epoch, batch, error=None, tb=None):
        tmp = run / ".status.tmp"
        tmp.write_text(json.dumps({"state": state, "pid": os.getpid(), "heartbeat": time.time(),
                                   "epoch": epoch, "epochs": config.epochs, "batch": batch,
                                   "steps_per_epoch": STEPS, "error": error, "traceback": tb}))
        os.replace(tmp, run / "status.json")

    def line(**values):
        with open(run / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps({**values, "time": time.time()}) + "\n")

    def save(epoch):
        checkpoint.parent.mkdir(exist_ok=True)
        checkpoint.write_text(json.dumps({"epoch": epoch}))

    epoch = json.loads(checkpoint.read_text())["epoch"] if resume and checkpoint.exists() else 0
    print("fake trainer from epoch", epoch, flush=True)
    status("running", epoch, 0)
    try:
        if config.source != "synthetic" and not Path(config.root or "").is_dir():
            raise FileNotFoundError(f"dataset folder {config.root} does not exist")
        while epoch < config.epochs:
            for batch in range(1, STEPS + 1):
                time.sleep(batch_s)
                if (run / "CANCEL").exists():
                    save(epoch)
                    status("cancelled", epoch, batch)
                    return run
                line(type="progress", epoch=epoch + 1, batch=batch, steps=STEPS,
                     loss=1.0 / batch, images_per_s=100.0)
                status("running", epoch, batch)
            epoch += 1
            save(epoch)
            line(type="epoch", epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch,
                 gender_accuracy=0.5, val_gender_accuracy=0.5 + epoch / 100,
                 val_age_mae=10 - epoch, images_per_s=100.0)
        status("finished", epoch, STEPS)
    except Exception as exc:
        status("failed", epoch, 0, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        raise
    return run
