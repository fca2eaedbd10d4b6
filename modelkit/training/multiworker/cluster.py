"""Where this process stands in a ``TF_CONFIG`` cluster; no TensorFlow import.

``TF_CONFIG`` is TensorFlow's own cluster description: every worker runs the same
``python -m modelkit train ...`` command with its own copy, naming the same cluster
and its own task. ``modelkit.cli.train`` reads it here, in a process that may never
import TensorFlow, to pick the trainer.

Example::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'
    cluster_task()  # ClusterTask(workers=2, task_type='worker', task_index=0, is_chief=True)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

EXAMPLE = ('{"cluster": {"worker": ["host1:port", "host2:port"]}, '
           '"task": {"type": "worker", "index": 0}}')


@dataclass(frozen=True)
class ClusterTask:
    """This process's task: ``workers`` counts the processes that train (the workers
    plus the ``chief`` task, if any); the chief (worker 0, or the ``chief`` task)
    alone writes the run folder."""

    workers: int
    task_type: str
    task_index: int
    is_chief: bool


def cluster_task(environ: Mapping[str, str] | None = None) -> ClusterTask | None:
    """This process's task from ``TF_CONFIG`` (in ``environ``, default the process's
    environment), or None when it is unset or empty.

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON, has no ``cluster`` with workers, or its
            ``task`` is not in the cluster; the message shows the expected shape.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}); expected e.g. {EXAMPLE}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {raw[:80]!r}; expected e.g. {EXAMPLE}")
    cluster, task = spec.get("cluster") or {}, spec.get("task") or {}
    trainers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    task_type, index = task.get("type"), task.get("index", 0)
    if not trainers:
        raise ValueError(f"TF_CONFIG names no workers: cluster={cluster!r}; expected a "
                         '"worker" list of host:port addresses')
    if task_type not in ("worker", "chief") or not 0 <= int(index) < len(
            cluster.get(task_type, [])):
        raise ValueError(f"TF_CONFIG task {task!r} is not a worker or chief of the cluster "
                         f"{cluster!r}; set task.type and task.index to this host's entry")
    is_chief = task_type == "chief" or ("chief" not in cluster and int(index) == 0)
    return ClusterTask(workers=trainers, task_type=task_type, task_index=int(index),
                       is_chief=is_chief)
