"""``train --workers N``: N local training workers on 127.0.0.1, for trying the
multi-worker path on one machine.

The launcher writes the run's ``TrainConfig`` to a file and starts
``python -m modelkit train --config FILE --run-dir DIR [--resume]`` once per worker,
each with a generated ``TF_CONFIG`` (one cluster of free local ports, its own
index). The config travels as a file, never as a rebuilt command line, so every
worker trains exactly the settings given.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelkit.config import TrainConfig
from modelkit.runs.queue import train_command

POLL_S = 0.2
TIMED_OUT = 124  # the exit status of timeout(1)


def free_ports(n: int, *, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` right now (bound together, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_configs(workers: int, *, host: str = "127.0.0.1") -> list[dict]:
    """One ``TF_CONFIG`` per local worker: the same cluster, each its own index."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    cluster = {"worker": [f"{host}:{port}" for port in free_ports(workers, host=host)]}
    return [{"cluster": cluster, "task": {"type": "worker", "index": i}}
            for i in range(workers)]


def launch_local_workers(
    config: TrainConfig,
    *,
    workers: int,
    run_dir: str | os.PathLike,
    resume: bool = False,
    timeout_s: float | None = None,
) -> int:
    """Train ``config`` as ``workers`` processes on 127.0.0.1; wait for them.

    The config goes to ``<tmp>/facescope-workers-*/config.json`` (the run folder's own
    ``config.json`` is the chief's to write). Worker 0 is the chief: its output goes to
    ours and it writes ``run_dir``. The other workers' output goes to
    ``facescope-worker-<i>.log`` beside the config (named on our stderr). When one
    worker fails the others would wait for it in an all-reduce forever, so they are
    stopped; so are all of them after ``timeout_s``.

    Returns:
        0 when every worker succeeded, else the first failure's exit status (124
        when the deadline stopped them).
    """
    run_dir = Path(run_dir).resolve()
    work_dir = Path(tempfile.mkdtemp(prefix="facescope-workers-"))
    config_file = work_dir / "config.json"
    config.with_absolute_paths().save(config_file)
    command = train_command(config_file, run_dir=run_dir, resume=resume)
    procs, logs = [], []
    try:
        for i, tf_config in enumerate(local_tf_configs(workers)):
            env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
            out = None
            if i:
                out = (work_dir / f"facescope-worker-{i}.log").open("w")
                logs.append(out)
                print(f"worker {i}: log in {out.name}", file=sys.stderr)
            procs.append(subprocess.Popen(command, env=env, stdout=out,
                                          stderr=subprocess.STDOUT if out else None))
        return _wait_workers(procs, timeout_s=timeout_s)
    finally:
        _stop(procs)
        for out in logs:
            out.close()


def _wait_workers(procs: list[subprocess.Popen], *, timeout_s: float | None) -> int:
    """Poll until every worker ended; stop the rest when one fails or time is up.
    Returns 0, the exit status of the first worker seen failing (the chief's first
    when they ended together), or 124 when the deadline stopped them."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while any(p.poll() is None for p in procs):
        failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
        timed_out = deadline is not None and time.monotonic() > deadline
        if failed or timed_out:
            print(f"stopping the workers: {'a worker failed' if failed else 'timed out'}",
                  file=sys.stderr)
            _stop(procs)
            return failed[0] if failed else TIMED_OUT
        time.sleep(POLL_S)
    return next((p.returncode for p in procs if p.returncode != 0), 0)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate the workers still running (ours), killing those that linger."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
