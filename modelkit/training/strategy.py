"""Where training runs: the precision policy and the ``tf.distribute`` strategy.

- one process: the default strategy on a CPU or one GPU, ``MirroredStrategy`` over
  several local GPUs (``modelkit.training.fit``);
- a ``TF_CONFIG`` cluster: ``MultiWorkerMirroredStrategy`` with ring all-reduce on
  CPUs (the only collective implementation there) and NCCL where GPUs are
  (``modelkit.training.multiworker.trainer``).

Both set Keras' precision policy first, from the run's ``precision``
(``modelkit.precision``: ``auto`` picks bfloat16, float16 or float32 for the
machine), and return what they chose with the strategy.
"""

from __future__ import annotations

import tensorflow as tf

from modelkit.precision import Precision, set_precision


def local_strategy(precision: str = "auto", backbone: str | None = None) -> tuple[
        tf.distribute.Strategy, Precision]:
    """The strategy of a single-process run: MirroredStrategy over several local GPUs,
    the default strategy otherwise (one GPU or the CPU); and the precision set for
    ``precision`` (a ``TrainConfig.precision``) and ``backbone``."""
    chosen = set_precision(precision, backbone)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy(), chosen
    return tf.distribute.get_strategy(), chosen


def multi_worker_strategy(precision: str = "auto", backbone: str | None = None) -> tuple[
        tf.distribute.MultiWorkerMirroredStrategy, Precision]:
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``; call it before any other
    TensorFlow op, as the strategy requires. Sets the precision after it."""
    impl = tf.distribute.experimental.CommunicationImplementation
    gpus = tf.config.list_physical_devices("GPU")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.AUTO if gpus else impl.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return strategy, set_precision(precision, backbone)
