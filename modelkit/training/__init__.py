"""Training: a ``TrainConfig`` in, a run folder out (docs/CONTRACTS.md, "A run folder").

One concept per module, shared by the two trainers, which never import each other:

- ``prepare``: manifest -> split -> balance plan -> tf.data datasets (``prepare_data``);
- ``artifacts``: every write to the run folder (status heartbeat, metrics lines,
  config.json, predictions.parquet, checkpoint paths, CANCEL);
- ``callbacks``: the Keras callbacks of ``model.fit`` (metrics lines, status, cancel);
- ``strategy``: the ``tf.distribute`` strategy per machine, and the precision
  (``modelkit.precision``) it sets first;
- ``predict``: the per-image predictions table of the evaluation splits;
- ``fit``: single-process training with ``model.fit`` (``train``);
- ``multiworker``: ``TF_CONFIG`` clusters: ``cluster`` (parsing, no TensorFlow),
  ``trainer`` (a custom step under ``strategy.run``), ``launcher`` (local workers).

The CLI (``modelkit.cli.train``) picks the trainer. This package's ``__init__`` imports
nothing, so importing ``modelkit.training.multiworker.cluster`` stays TensorFlow-free.

Example::

    from modelkit.config import TrainConfig
    from modelkit.training.fit import train
    run_dir = train(TrainConfig(source="synthetic", epochs=2), run_dir="runs/try")
"""
