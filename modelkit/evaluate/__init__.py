"""Errors per demographic group, from a run's ``predictions.parquet``.

Where does the model fail, and for whom? This package turns the predictions table
(see docs/CONTRACTS.md) into tidy tables: overall and per-group figures for every
head, bootstrap intervals so a small group is not read as a finding, the gap between
the best and the worst group, confusion matrices (rows true, columns predicted), the
worst errors of a group and the age error against true age. No Streamlit here: the
dashboard and the CLI draw what these functions return.

One concept per module:

- :mod:`~modelkit.evaluate.predictions`: load and check the table, splits, classes;
- :mod:`~modelkit.evaluate.bootstrap`: percentile intervals, shareable resamples;
- :mod:`~modelkit.evaluate.metrics`: each head's figures (names, values, intervals);
- :mod:`~modelkit.evaluate.groups`: per-group tables and the gaps between groups;
- :mod:`~modelkit.evaluate.result`: :class:`Evaluation`, :func:`evaluate`, its JSON;
- :mod:`~modelkit.evaluate.drilldown`: confusion, worst errors, MAE by true age.
- :mod:`~modelkit.evaluate.calibration`: per-group ECE, Brier, reliability curves;
- :mod:`~modelkit.evaluate.compare.paired`, :mod:`~modelkit.evaluate.compare.inputs`,
  :mod:`~modelkit.evaluate.compare.runs`, :mod:`~modelkit.evaluate.compare.result`: runs
  compared on the same faces with paired bootstrap intervals
  (``from modelkit.evaluate.compare.runs import compare``; not re-exported here, as it
  reads run folders through :mod:`modelkit.runs`).

Example::

    from modelkit import evaluate as ev
    result = ev.evaluate_run("runs/2024-..", split="test")
    result.by_group.query("metric == 'race_accuracy'")
    ev.confusion(result.predictions, "gender", where={"race": "Black"}).matrix
"""

from modelkit.evaluate.drilldown import Confusion, confusion, mae_by_true_age, worst_errors
from modelkit.evaluate.groups import (
    DEFAULT_GROUPINGS,
    GROUP_SEPARATOR,
    compute_gaps,
    grouping_key,
)
from modelkit.evaluate.metrics import (
    AGE_METRICS,
    CLASS_METRICS,
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    head_metric_names,
)
from modelkit.evaluate.predictions import (
    AGE_HEAD,
    CLASS_HEADS,
    EVAL_HEADS,
    GROUP_ATTRIBUTES,
    PREDICTIONS_FILE,
    REQUIRED_COLUMNS,
    available_splits,
    check_predictions,
    class_labels,
    load_predictions,
    predictions_path,
    select_split,
)
from modelkit.evaluate.result import Evaluation, evaluate, evaluate_run

__all__ = [
    "AGE_HEAD", "AGE_METRICS", "CLASS_HEADS", "CLASS_METRICS", "DEFAULT_GROUPINGS",
    "EVAL_HEADS", "GROUP_ATTRIBUTES", "GROUP_SEPARATOR", "HEADLINE_METRICS",
    "LOWER_IS_BETTER", "PREDICTIONS_FILE", "REQUIRED_COLUMNS", "Confusion", "Evaluation",
    "available_splits", "check_predictions", "class_labels", "compute_gaps", "confusion",
    "evaluate", "evaluate_run", "grouping_key", "head_metric_names", "load_predictions",
    "mae_by_true_age", "predictions_path", "select_split", "worst_errors",
]
