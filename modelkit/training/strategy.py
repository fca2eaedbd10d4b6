"""Where training runs: the precision policy and the ``tf.distribute`` strategy.

- one process: the default strategy on a CPU or one GPU, ``MirroredStrategy`` over
  several local GPUs (``modelkit.training.fit``);
- a ``TF_CONFIG`` cluster: ``MultiWorkerMirroredStrategy`` with ring all-reduce on
  CPUs (the only collective implementation there) and NCCL where GPUs are
  (``modelkit.training.multiworker.trainer``).

Both use mixed float16 on any GPU (Keras's optimizer then scales the loss) and
float32 on a CPU.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def set_precision_policy() -> bool:
    """Mixed float16 when a GPU is visible, else float32; returns whether one is."""
    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "float32")
    return bool(gpus)


def local_strategy() -> tf.distribute.Strategy:
    """The strategy of a single-process run: MirroredStrategy over several local GPUs,
    the default strategy otherwise (one GPU or the CPU). Sets the precision policy."""
    set_precision_policy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``; call it before any other
    TensorFlow op, as the strategy requires. Sets the precision policy after it."""
    impl = tf.distribute.experimental.CommunicationImplementation
    gpus = tf.config.list_physical_devices("GPU")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.AUTO if gpus else impl.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    set_precision_policy()
    return strategy
