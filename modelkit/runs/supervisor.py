"""The supervisor of one job attempt: ``python -m modelkit.runs.supervisor RUN_ID RUNS_ROOT``.

The queue (:mod:`modelkit.runs.queue`) starts it in a session of its own (so it outlives
whoever submitted the job) with stdout and stderr appended to the job's ``train.log``. It

1. starts the job's process, :func:`modelkit.runs.queue.command` (for a training run
   ``python -m modelkit train --config <run>/config.json --run-dir <run>``, plus
   ``--resume`` when the attempt resumes), and records its pid and start time;
2. waits for it, then records how the attempt ended (the final ``status.json``, else
   ``failed`` with the exit status as the reason: a ``kill -9`` leaves no status);
3. starts the next queued job, so the queue moves on with no page open.

A module rather than a ``python -c`` string, so it has a name in ``ps`` and a traceback
with line numbers when it fails. It must not be imported by ``modelkit.runs`` itself
(``-m`` would then run it twice).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from modelkit import paths
from modelkit.runfolder import ACTIVE, CANCEL_FILE, LOG_FILE
from modelkit.runs import queue, reconciler, registry
from modelkit.runs.queue import dispatch
from modelkit.runs.processes import describe_exit, start_time


def _say(text: str) -> None:
    print(f"[supervisor] {time.strftime('%H:%M:%S')} {text}", flush=True)


def _run_job(run_id: str, root: Path, run_dir: Path, *, kind: str, resume: bool,
             cwd: str | None) -> int:
    """Start the job's process (the trainer, a prediction, a ranking), record its pid,
    wait; returns its exit status (127: it could not start)."""
    cmd = queue.command(kind, run_dir, resume=resume)
    _say(f"starting the {kind} process: {' '.join(cmd)}")
    try:
        with (run_dir / LOG_FILE).open("ab") as log:
            child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, env=queue.child_env(),
                                     cwd=cwd if cwd and Path(cwd).is_dir() else run_dir)
    except OSError as exc:
        _say(f"could not start the {kind} process: {exc}")
        return 127
    with registry.transaction(root) as con:
        con.execute("UPDATE runs SET pid=?, pid_started=? WHERE id=?",
                    (child.pid, start_time(child.pid), run_id))
    return child.wait()


def supervise(run_id: str, *, runs_root: str | os.PathLike) -> int:
    """Run one attempt of ``run_id``, record its end and move the queue; returns 0."""
    root = paths.runs_root(runs_root)
    run_dir = root / run_id
    with registry.transaction(root) as con:
        reconciler.adopt_folders(con, root)  # the registry may have been rebuilt since dispatch
        row = registry.get_row(con, run_id)
    returncode = None
    if row["state"] in ACTIVE and not (run_dir / CANCEL_FILE).exists():
        returncode = _run_job(run_id, root, run_dir, kind=row["kind"],
                              resume=bool(row["resume"]), cwd=row["cwd"])
        _say(f"the {row['kind']} process exited with {describe_exit(returncode)}")
    with registry.transaction(root) as con:
        reconciler.adopt_folders(con, root)
        row = registry.get_row(con, run_id)
        if row["state"] in ACTIVE:
            reconciler.finish(con, row, run_dir, returncode=returncode,
                              never_started=returncode is None)
        dispatch(con, root)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelkit.runs.supervisor",
                                     description="supervise one attempt of a background run "
                                                 "(started by modelkit.runs, not by hand)")
    parser.add_argument("run_id")
    parser.add_argument("runs_root")
    args = parser.parse_args(argv)
    return supervise(args.run_id, runs_root=args.runs_root)


if __name__ == "__main__":
    sys.exit(main())
