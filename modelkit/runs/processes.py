"""Is this pid still *our* process? Liveness of a run's supervisor and trainer.

A pid alone is not an identity: after a crash or a reboot the number goes to some
other process. So every pid the launcher records comes with the process's start time
(``psutil.Process.create_time()``), and a pid counts as alive only while a process
with that pid *and* that start time exists and is not a zombie. For a pid known only
from a trainer's ``status.json`` (a foreground ``train --run-dir`` adopted later) the
start time is unknown; then the process must have started before the run's last
heartbeat, which a pid reused after the trainer died cannot have.

psutil does this portably (Linux ``/proc``, macOS, Windows) where the code before it
parsed ``/proc/<pid>/stat`` by hand and guessed from heartbeats elsewhere.
"""

from __future__ import annotations

import contextlib
import signal

import psutil

# Start times are read from the same clock each time; the slack covers rounding only.
_SAME_START_S = 1.0


def start_time(pid: int | None) -> float | None:
    """When process ``pid`` started (Unix time), or None when there is none."""
    if not pid:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_alive(pid: int | None, *, started: float | None = None,
             not_after: float | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process of the run.

    Args:
        pid: the recorded pid; None or 0 is never alive.
        started: the recorded start time of that process; a process with another
            start time is someone else's (pid reused).
        not_after: when ``started`` is unknown, a time the run's process was surely
            running (its last heartbeat); a process that started later is someone else's.
    """
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except psutil.NoSuchProcess:  # ZombieProcess is one too
        return False
    except psutil.AccessDenied:  # another user's process: it exists, the time is unknown
        return started is None and not_after is None
    if started is not None:
        return abs(created - float(started)) < _SAME_START_S
    if not_after is not None:
        return created <= float(not_after) + _SAME_START_S
    return True


def describe_exit(returncode: int | None) -> str:
    """``exit code 2``, ``signal SIGKILL`` or ``no exit status``, for a log line or an error."""
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"
