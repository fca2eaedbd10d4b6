"""The Keras callbacks of ``model.fit`` that report a run to its folder.

``modelkit.training.fit`` uses them beside two of Keras's own:
``keras.callbacks.BackupAndRestore`` (the checkpoints and resume) and
``keras.callbacks.TensorBoard``. What Keras has no callback for is kept here:

- :class:`MetricsLogger`: ``metrics.jsonl`` lines every N batches and per epoch
  (``CSVLogger`` writes only epoch rows, as CSV), with the images/s of the training
  part, and the lines of a resumed epoch dropped so each epoch appears once;
- :class:`RunStatus`: where training is, for the heartbeat in ``status.json``, and
  the ``CANCEL`` file, honoured at the next batch boundary.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras

from modelkit import runfolder
from modelkit.training import artifacts


class TrainingCancelled(Exception):
    """Raised inside ``fit`` at the batch boundary after a CANCEL file appeared."""


class MetricsLogger(keras.callbacks.Callback):
    """Appends ``metrics.jsonl`` lines: progress every ``every`` batches, one per epoch
    (Keras's logs under their own names, plus images/s of the training part).

    On the first epoch it runs (epoch ``k``, 0-based: where ``BackupAndRestore``
    resumed, or 0) it drops the lines of epochs after ``k``, which this run redoes.
    """

    def __init__(self, run_dir: Path, *, steps: int, batch_size: int, n_images: int, every: int):
        super().__init__()
        self.metrics = runfolder.MetricsFile(run_dir)
        self.steps, self.batch_size = steps, batch_size
        self.n_images, self.every = n_images, max(1, every)
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:
            self.metrics.truncate(after_epoch=epoch)
            self._first_epoch = False
        self.epoch, self.start, self.train_end = epoch + 1, time.time(), time.time()

    def _images_per_s(self, batches: int) -> float:
        seen = min(batches * self.batch_size, self.n_images)
        return seen / max(self.train_end - self.start, 1e-9)

    def on_train_batch_end(self, batch, logs=None):
        self.train_end = time.time()
        if (batch + 1) % self.every == 0:
            self.metrics.append(artifacts.progress_line(
                epoch=self.epoch, batch=batch + 1, steps=self.steps,
                loss=(logs or {}).get("loss", float("nan")),
                images_per_s=self._images_per_s(batch + 1)))

    def on_epoch_end(self, epoch, logs=None):
        self.metrics.append(artifacts.epoch_line(
            epoch=epoch + 1, images_per_s=self._images_per_s(self.steps), logs=logs or {}))


class RunStatus(keras.callbacks.Callback):
    """Tells the heartbeat where training is (``epoch`` = completed epochs, ``batch``)
    and stops at the next batch boundary when a ``CANCEL`` file appears, by raising
    :class:`TrainingCancelled`.

    Why raise rather than set ``model.stop_training``: Keras then still runs the
    validation pass and ``on_epoch_end`` of the unfinished epoch, and
    ``BackupAndRestore`` would record that epoch as completed. Raising leaves the
    backup at the last completed epoch, which a resume continues from.
    """

    def __init__(self, status: runfolder.StatusWriter, run_dir: Path):
        super().__init__()
        self.status, self.run_dir = status, run_dir

    def on_epoch_begin(self, epoch, logs=None):
        self.status.update(epoch=epoch, batch=0)

    def on_train_batch_end(self, batch, logs=None):
        self.status.update(batch=batch + 1)
        if runfolder.cancel_requested(self.run_dir):
            raise TrainingCancelled(f"cancelled by {self.run_dir / runfolder.CANCEL_FILE}")

    def on_epoch_end(self, epoch, logs=None):
        self.status.update(epoch=epoch + 1, batch=0)
