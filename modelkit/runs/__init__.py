"""Background training runs: the registry, the run folders, the launcher and the queue.

A run is a folder ``<runs root>/<run id>/`` and an OS process of its own. Starting one
never blocks the caller (the Train page, ``train --background``): it is queued in a
small SQLite registry and, when a slot is free, a supervisor process starts
``python -m modelkit train --config <run>/config.json --run-dir <run>``, records how it
ended and starts the next queued run. So runs outlive the browser tab and the server.

One concept per module:

- :mod:`~modelkit.runs.registry`: the SQLite index (versioned schema), ``list_runs``, ``show``
- :mod:`~modelkit.runfolder`: ``RunInfo``, the states, status/metrics/log readers
- :mod:`~modelkit.runs.processes`: pid liveness (psutil: pid + start time)
- :mod:`~modelkit.runs.reconciler`: dead-run detection and folder adoption
- :mod:`~modelkit.runs.launcher`: ``start_run`` (the config checked at the door), ``reconcile``
- :mod:`~modelkit.runs.experiments`: ``start_experiment`` (a run and its control, linked)
- :mod:`~modelkit.runs.control`: ``cancel``, ``resume``, ``delete``, ``wait``
- :mod:`~modelkit.runs.supervisor`: the per-attempt process (``python -m``; not imported here)
- :mod:`~modelkit.runs.eta`: fraction done, ETA, speed, epoch metrics
- :mod:`~modelkit.runs.devices`: which device training will use

Reads (``list_runs``, ``show``) never write; ``reconcile()`` is the explicit write that
marks dead runs and moves the queue. No TensorFlow is imported here.

Example::

    from modelkit import runs
    run = runs.start_run({"source": "synthetic", "epochs": 3})
    runs.wait(run.id).state     # "finished"
"""

from modelkit.runs.control import cancel, delete, resume, wait
from modelkit.runs.devices import auto_precision, detect_devices
from modelkit.runs.eta import epoch_metrics, progress
from modelkit.runs.experiments import start_experiment
from modelkit.runfolder import ACTIVE, FINAL, STALE_S, STATES, log_tail, read_metrics, read_status
from modelkit.runs.info import RunInfo
from modelkit.runs.launcher import DEDUP_WINDOW_S, reconcile, set_max_concurrent, start_run
from modelkit.runs.reconciler import DIED_REASON
from modelkit.runs.registry import get_max_concurrent, list_runs, registry_path, show

__all__ = ["ACTIVE", "DEDUP_WINDOW_S", "DIED_REASON", "FINAL", "STALE_S", "STATES", "RunInfo",
           "auto_precision", "cancel", "delete", "detect_devices", "epoch_metrics", "get_max_concurrent",
           "list_runs", "log_tail", "progress", "read_metrics", "read_status", "reconcile",
           "registry_path", "resume", "set_max_concurrent", "show", "start_experiment",
           "start_run", "wait"]
