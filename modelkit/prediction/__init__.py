"""Predicting with a trained run on images it was not trained on.

A run's own ``predictions.parquet`` covers the test split of the set it was trained
on. This package runs the run's model on *another* dataset and keeps the result beside
the run, as an evaluation set that ``modelkit evaluate --on NAME`` and the Evaluate page
read like the run's own split:

- :mod:`~modelkit.prediction.request`: :class:`PredictRequest`, what to predict on (the
  file a background job is handed);
- :mod:`~modelkit.prediction.evalsets`: the ``<run>/eval/<NAME>/`` folders, their
  ``eval.json``, listing them, naming them;
- :mod:`~modelkit.prediction.mapping`: folding race vocabularies that differ between
  the model and the set (``modelkit.labels.RACE_MAPPINGS``);
- :mod:`~modelkit.prediction.dataset`: :func:`predict_dataset`, the model run over the
  set through the training pipeline's decoder (imports TensorFlow);
- :mod:`~modelkit.prediction.job` / :mod:`~modelkit.prediction.background`: the same as
  a background job of the run registry (the job's process; starting and listing jobs).

This ``__init__`` imports no TensorFlow (the dashboard lists evaluation sets cheaply).

Example::

    from modelkit.prediction import PredictRequest
    from modelkit.prediction.dataset import predict_dataset
    result = predict_dataset(PredictRequest(run_dir="runs/abc", source="fairface",
                                            root="../shared/data/fairface_sample"))
    # then: python -m modelkit evaluate --run-dir runs/abc --on fairface
"""

from modelkit.prediction.evalsets import (
    EVAL_DIR,
    EVAL_FILE,
    EvalSet,
    display_name,
    eval_dir,
    list_eval_sets,
    owning_run,
    read_eval_info,
)
from modelkit.prediction.mapping import RaceMapping, apply_race_mapping, resolve_race_mapping
from modelkit.prediction.request import PredictRequest

__all__ = [
    "EVAL_DIR", "EVAL_FILE", "EvalSet", "PredictRequest", "RaceMapping", "apply_race_mapping",
    "display_name", "eval_dir", "list_eval_sets", "owning_run", "read_eval_info",
    "resolve_race_mapping",
]
