"""`python -m modelkit runs list|show|cancel|resume|wait|delete|limit`: the run registry.

The same calls the dashboard makes (``modelkit.runs``), for a headless box. Every
command reconciles the registry first (dead runs are marked ``failed``, the queue moves
on), so what it prints is up to date; the actions and ``wait`` do so themselves.

    python -m modelkit train --source synthetic --epochs 5 --background --json
    python -m modelkit runs list
    python -m modelkit runs wait 20250101-120000-ab12cd --timeout 3600
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from modelkit import runs


def add_parser(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs-root", default=None,
                        help="runs folder (default: $FACESCOPE_RUNS_ROOT or ./runs)")
    parser = sub.add_parser("runs", help="list, watch, cancel, resume and delete training runs")
    actions = parser.add_subparsers(dest="action", required=True)

    p = actions.add_parser("list", parents=[common], help="all runs, newest first")
    p.add_argument("--state", choices=runs.STATES, help="only runs in this state")
    p.add_argument("--json", action="store_true", help="a JSON list of run objects")
    p.set_defaults(func=_list)

    p = actions.add_parser("show", parents=[common], help="one run")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="a JSON object")
    p.set_defaults(func=_show)

    for name, func, text in (
        ("cancel", _cancel, "stop a run at its next batch boundary (a queued run never starts)"),
        ("resume", _resume, "queue a cancelled or failed run to continue from its checkpoint"),
        ("delete", _delete, "remove a run's folder and registry entry (not while it runs)"),
    ):
        p = actions.add_parser(name, parents=[common], help=text)
        p.add_argument("id")
        p.set_defaults(func=func)
    p.add_argument("--yes", action="store_true", help="delete a run that is part of an "
                   "experiment without asking (the experiment's other run is kept)")

    p = actions.add_parser("wait", parents=[common],
                           help="wait for a run to end; exit 0 only when it finished")
    p.add_argument("id")
    p.add_argument("--timeout", type=float, default=None, help="give up after S seconds (exit 3)")
    p.set_defaults(func=_wait)

    p = actions.add_parser("limit", parents=[common],
                           help="show or set how many runs may train at once (default 1)")
    p.add_argument("n", nargs="?", type=int)
    p.set_defaults(func=_limit)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _line(run: runs.RunInfo) -> str:
    epochs = f"{run.epoch or 0}/{run.epochs or run.config.get('epochs') or '?'}"
    where = f" (queue #{run.queue_position})" if run.queue_position else ""
    return (f"{run.id:24} {run.state + where:20} {epochs:>7}  {run.config.get('source', '-'):10} "
            f"{run.config.get('backbone') or '-':14} {_when(run.started or run.created):19}  "
            f"{run.started_by or '-'}"
            + (f"  {run.experiment} ({run.experiment_role})" if run.experiment else ""))


def _list(args) -> int:
    runs.reconcile(runs_root=args.runs_root)
    found = runs.list_runs(runs_root=args.runs_root)
    if args.state:
        found = [r for r in found if r.state == args.state]
    if args.json:
        print(json.dumps([r.to_dict() for r in found], indent=1))
        return 0
    print(f"{'id':24} {'state':20} {'epoch':>7}  {'source':10} {'backbone':14} {'started':19}  by")
    for run in found:
        print(_line(run))
    return 0


def _show(args) -> int:
    runs.reconcile(runs_root=args.runs_root)
    run = runs.show(args.id, runs_root=args.runs_root)
    if args.json:
        print(json.dumps(run.to_dict(), indent=1))
        return 0
    for key, value in run.to_dict().items():
        if key in ("created", "started", "ended", "heartbeat"):
            value = _when(value)
        if key == "traceback" and value:
            value = "\n" + value
        print(f"{key:16} {value}")
    return 0


def _cancel(args) -> int:
    run = runs.cancel(args.id, runs_root=args.runs_root)
    print(f"{run.id}: {run.state}")
    return 0


def _resume(args) -> int:
    run = runs.resume(args.id, runs_root=args.runs_root)
    print(f"{run.id}: {run.state}" + (f" (queue #{run.queue_position})" if run.queue_position else ""))
    return 0


def _delete(args) -> int:
    from modelkit.runs.experiments import partners

    runs.reconcile(runs_root=args.runs_root)
    kept = partners(args.id, runs_root=args.runs_root)
    if kept and not args.yes:
        others = ", ".join(f"{r.id} ({r.experiment_role})" for r in kept)
        question = (f"{args.id} is part of experiment {kept[0].experiment} with {others}; "
                    f"that run is kept. Delete {args.id}?")
        if not sys.stdin.isatty():
            raise ValueError(f"{question} Pass --yes to delete it without asking")
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            print(f"{args.id}: kept")
            return 1
    runs.delete(args.id, runs_root=args.runs_root)
    print(f"{args.id}: deleted" + (f"; {', '.join(r.id for r in kept)} kept" if kept else ""))
    return 0


def _wait(args) -> int:
    run = runs.wait(args.id, runs_root=args.runs_root, timeout=args.timeout)  # reconciles per poll
    print(f"{run.id}: {run.state}" + (f": {run.error}" if run.error else ""))
    if not run.is_final:
        return 3
    return 0 if run.state == "finished" else 1


def _limit(args) -> int:
    if args.n is not None:  # set_max_concurrent reconciles and starts queued runs
        runs.set_max_concurrent(args.n, runs_root=args.runs_root)
    print(runs.get_max_concurrent(runs_root=args.runs_root))
    return 0
