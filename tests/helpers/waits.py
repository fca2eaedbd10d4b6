"""Waits with a deadline on what a test needs, never a fixed sleep: a condition
polled until it holds, or a killed process until it is dead."""

from __future__ import annotations

import os
import time

import psutil

from modelkit.runs import processes

POLL_S = 0.05


def wait_for(predicate, *, timeout: float = 20.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_dead(*pids: int, timeout: float = 10.0) -> None:
    """Wait until each of ``pids`` is dead as ``modelkit.runs.processes`` sees it (gone,
    or a zombie): a signal is delivered asynchronously, so after ``os.kill(pid,
    SIGKILL)`` the process may still run for a moment.

    A child of this process (a supervisor the launcher started here) is waited for
    with ``psutil.Process.wait``, which reaps it. Another process's (a trainer, the
    supervisor's child) stays a zombie until its own parent or init reaps it, which a
    wait cannot see, so for those the liveness check the reconciler uses is polled.
    """
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.ppid() == os.getpid():
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
                continue
        except psutil.NoSuchProcess:
            continue
        except psutil.TimeoutExpired:
            raise AssertionError(f"process {pid} still runs {timeout}s after it was killed") from None
        wait_for(lambda pid=pid: not processes.is_alive(pid),
                 timeout=max(POLL_S, deadline - time.monotonic()), what=f"process {pid} to die")
