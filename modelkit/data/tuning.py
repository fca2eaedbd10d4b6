"""How FaceScope's tf.data pipelines run: a fixed parallelism and prefetch depth, with
tf.data's autotuner off.

Why off: on TensorFlow 2.21 (2-core CPU), with the autotuner on, deleting a pipeline's
iterator held the thread that deleted it for up to 9 s, in about one deletion of two:
100 in-memory steps took 11.6 s or 20.5 s, the steps themselves 11.6 s either way.
``model.fit`` deletes the train and validation iterators every epoch, so an epoch
flowed at 146 to 248 images/s against its step's 280. With the autotuner off the
delay is gone (docs/BENCHMARKS.md section 18). What the autotuner would choose is no
loss here: one map per batch, on as many threads as the machine has cores, and two
batches prepared ahead are enough for a step that costs far more than its input.
"""

from __future__ import annotations

import os

# Threads of a parallel map: the cores this process may run on.
PARALLEL_CALLS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else (os.cpu_count() or 1))
# Batches prepared ahead of the one the model is on.
PREFETCH_BATCHES = 2


def untuned(ds):
    """``ds`` (a ``tf.data.Dataset``) with tf.data's autotuner off."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
