"""Background training runs: the launcher, the run registry and the queue.

A run is a folder ``<runs root>/<run id>/`` and an OS process of its own. Starting
one never blocks the caller (the dashboard, ``train --background``): the run goes
into a small SQLite registry (``<runs root>/registry.sqlite``) as ``queued`` and, when
a slot is free, a tiny *supervisor* process is launched in a new session (so it
outlives the Streamlit server, its script reruns and the terminal). The supervisor
starts ``python -m modelkit train ... --run-dir DIR`` (stdout and stderr to
``DIR/train.log``), waits for it, records how it ended, and starts the next queued
run. So the queue moves on with no page open.

States: ``queued -> running -> finished | failed | cancelled``, and
``running -> cancelling -> cancelled`` (the ``CANCEL`` file of docs/CONTRACTS.md;
the training process stops at the next batch boundary and keeps a checkpoint).
``resume`` puts a cancelled or failed run back in the queue; it restarts with
``--resume``, from its checkpoint up to the planned epoch count.

Robustness:
- Every write is one ``BEGIN IMMEDIATE`` transaction (WAL mode, busy timeout), so two
  clicks, two tabs or a page and a supervisor never interleave.
- Double submit: a start with the same ``idempotency_key`` as an earlier one, or with
  an identical config less than ``DEDUP_WINDOW_S`` seconds after it, returns that
  run instead of starting a second one.
- Liveness: :func:`reconcile` (called by every list/show and by the supervisors)
  marks a ``running`` run whose processes are gone (crash, ``kill -9``, reboot) as
  ``failed`` with the reason; a pid is only trusted when ``/proc/<pid>/cmdline``
  names the run (pids are reused after a reboot). Without ``/proc`` a heartbeat
  older than ``STALE_S`` counts as dead.
- The registry is an index, not the truth: each folder holds ``launch.json`` (what
  was asked for) and ``status.json`` (what happened), and runs missing from the
  registry (deleted database, a foreground ``train --run-dir`` under the runs root)
  are picked up again by the next list.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from modelkit import paths

STATES = ("queued", "running", "cancelling", "cancelled", "failed", "finished")
ACTIVE = ("running", "cancelling")
FINAL = ("cancelled", "failed", "finished")
DEDUP_WINDOW_S = 5.0
STALE_S = 10.0
START_GRACE_S = 15.0
DIED_REASON = "process exited without a final status (killed?)"
# Train arguments the launcher sets itself; never taken from a submitted config.
LAUNCHER_KEYS = ("run_dir", "resume", "background", "json", "runs_root", "func", "command")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    pid INTEGER,
    supervisor_pid INTEGER,
    config TEXT NOT NULL,
    argv TEXT NOT NULL,
    cwd TEXT,
    idempotency_key TEXT,
    config_hash TEXT,
    resume INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    queued_at REAL,
    started REAL,
    ended REAL,
    heartbeat REAL,
    epoch INTEGER,
    epochs INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_key ON runs(idempotency_key);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class RunInfo:
    """One run as the registry and its folder describe it (what list/show return)."""

    id: str
    state: str
    pid: int | None
    run_dir: str
    # What was submitted, overlaid with the resolved config.json once the run wrote it
    # (defaults filled in, plus race_classes, n_train ...).
    config: dict = field(default_factory=dict)
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    heartbeat: float | None = None
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    steps_per_epoch: int | None = None
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    resume: bool = False
    queue_position: int | None = None
    stalled: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def is_final(self) -> bool:
        return self.state in FINAL


# ---------------------------------------------------------------- registry plumbing

def registry_path(runs_root: str | os.PathLike | None = None) -> Path:
    """``<runs root>/registry.sqlite``."""
    return paths.runs_root(runs_root) / "registry.sqlite"


def _connect(root: Path) -> sqlite3.Connection:
    root.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(root / "registry.sqlite", timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA busy_timeout=30000")
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(_SCHEMA)
    return con


@contextlib.contextmanager
def _transaction(root: Path) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` write transaction: readers go on, writers queue."""
    con = _connect(root)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def _row(con: sqlite3.Connection, run_id: str) -> sqlite3.Row:
    row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise ValueError(f"no run {run_id!r} in the registry; "
                         "`python -m modelkit runs list` shows the runs there")
    return row


def get_max_concurrent(*, runs_root: str | os.PathLike | None = None) -> int:
    """How many runs may train at once (default 1: one per GPU, the same on CPU)."""
    con = _connect(paths.runs_root(runs_root))
    try:
        return _max_concurrent(con)
    finally:
        con.close()


def _max_concurrent(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT value FROM settings WHERE key = 'max_concurrent'").fetchone()
    return int(row["value"]) if row else 1


def set_max_concurrent(n: int, *, runs_root: str | os.PathLike | None = None) -> None:
    """Raise or lower the concurrency limit; queued runs start at once if it grew."""
    if int(n) < 1:
        raise ValueError(f"max_concurrent must be at least 1, got {n}")
    root = paths.runs_root(runs_root)
    with _transaction(root) as con:
        con.execute("INSERT OR REPLACE INTO settings VALUES ('max_concurrent', ?)", (str(int(n)),))
        _dispatch(con, root)


# ---------------------------------------------------------------- run folder files

def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: dict) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The run's ``status.json``, or None when absent or unreadable."""
    return _read_json(Path(run_dir) / "status.json")


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All lines of ``metrics.jsonl`` (epoch and progress); a torn last line is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        text = path.read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                out.append(item)
    return out


def log_tail(run_dir: str | os.PathLike, *, lines: int = 40) -> str:
    """The last ``lines`` lines of ``train.log`` (read from the end: logs grow)."""
    path = Path(run_dir) / "train.log"
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 200 * lines))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


# ---------------------------------------------------------------- process liveness

def _process_alive(pid: int | None, token: str) -> bool | None:
    """Whether ``pid`` is a live process of this run.

    On Linux the answer is exact: the process exists, is not a zombie, and its
    command line names the run (``token``), so a pid reused after a reboot does not
    count. Elsewhere returns None when the pid exists (the caller then checks the
    heartbeat) and False when it does not.
    """
    if not pid:
        return False
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            return token in (proc / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return None


def _alive(row: sqlite3.Row, status: dict | None, now: float) -> bool:
    """A running row's processes: the training child, else its supervisor."""
    answers = [_process_alive(p, row["id"]) for p in (row["pid"], row["supervisor_pid"])]
    if any(a is True for a in answers):
        return True
    if any(a is None for a in answers):  # no /proc: trust a fresh heartbeat only
        beat = (status or {}).get("heartbeat") or row["started"] or 0
        return now - float(beat) < max(STALE_S, START_GRACE_S if not status else 0)
    return False


def _fresh_status(row: sqlite3.Row, run_dir: Path) -> dict | None:
    """status.json when written by the current attempt (not left from a previous one)."""
    status = read_status(run_dir)
    if status is None:
        return None
    if row["started"] and float(status.get("heartbeat") or 0) < float(row["started"]) - 1:
        return None
    return status


# ---------------------------------------------------------------- start / dedup

def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _new_id(root: Path) -> str:
    while True:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        if not (root / run_id).exists():
            return run_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _train_parser() -> argparse.ArgumentParser | None:
    """The train command's own argument parser, when ``modelkit.cli.train`` has one."""
    try:
        from modelkit.cli.train import add_train_arguments
    except ImportError:
        return None
    parser = argparse.ArgumentParser(add_help=False)
    add_train_arguments(parser)
    return parser


def _flag_value(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [",".join(f"{k}={v}" for k, v in value.items())]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def argv_from_config(config: dict) -> list[str]:
    """The ``python -m modelkit train`` flags that ask for ``config``.

    Keys are the train command's argument names (``image_size`` for
    ``--image-size``); None values are left out, so the command's own default
    applies. Booleans are switches.

    Raises:
        ValueError: a key the train command does not take.
    """
    parser = _train_parser()
    actions = {a.dest: a for a in parser._actions if a.option_strings} if parser else {}
    argv: list[str] = []
    for key, value in config.items():
        if key in LAUNCHER_KEYS or value is None:
            continue
        action = actions.get(key)
        if parser is not None and action is None:
            raise ValueError(f"train has no argument {key!r}; it takes "
                             f"{', '.join(sorted(d for d in actions if d not in LAUNCHER_KEYS))}")
        flag = (action.option_strings[-1] if action else "--" + key.replace("_", "-"))
        if isinstance(value, bool) or (action is not None and action.nargs == 0):
            if action is not None and isinstance(action, argparse._StoreFalseAction):
                if not value:
                    argv.append(flag)
            elif value:
                argv.append(flag)
            continue
        argv += [flag, *_flag_value(value)]
    return argv


def start_run(
    config: dict,
    *,
    runs_root: str | os.PathLike | None = None,
    idempotency_key: str | None = None,
    argv: list[str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> RunInfo:
    """Submit a training run and return at once; it starts now or when a slot frees.

    Args:
        config: the train arguments by name (``source``, ``backbone``, ``epochs`` ...),
            stored in the registry and shown by the dashboard.
        idempotency_key: a client token for this submission; a second start with the
            same key returns the first run. Without one, an identical ``config``
            submitted less than ``DEDUP_WINDOW_S`` seconds after another returns that
            one (a double click), so two identical runs need a few seconds between.
        argv: the train flags, when the caller has them already; else built from
            ``config`` by :func:`argv_from_config`.
        cwd: where relative paths in the config are resolved (default: here).

    Returns:
        The run, ``running`` or ``queued`` (or whatever state the deduplicated run is in).
    """
    root = paths.runs_root(runs_root)
    config = _jsonable({k: v for k, v in config.items() if k not in LAUNCHER_KEYS})
    argv = list(argv) if argv is not None else argv_from_config(config)
    digest = _config_hash(config)
    now = time.time()
    with _transaction(root) as con:
        if idempotency_key:
            same = con.execute("SELECT id FROM runs WHERE idempotency_key = ?",
                               (idempotency_key,)).fetchone()
        else:
            same = con.execute(
                "SELECT id FROM runs WHERE config_hash = ? AND created > ? ORDER BY created DESC",
                (digest, now - DEDUP_WINDOW_S)).fetchone()
        if same is not None:
            run_id = same["id"]
        else:
            run_id = _new_id(root)
            run_dir = root / run_id
            run_dir.mkdir(parents=True)
            launch = {"id": run_id, "config": config, "argv": argv,
                      "cwd": os.fspath(cwd or os.getcwd()),
                      "idempotency_key": idempotency_key, "created": now}
            _write_json(run_dir / "launch.json", launch)
            con.execute(
                "INSERT INTO runs (id, state, config, argv, cwd, idempotency_key, config_hash,"
                " created, queued_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (run_id, json.dumps(config), json.dumps(argv), launch["cwd"],
                 idempotency_key, digest, now, now))
            _dispatch(con, root)
    return show(run_id, runs_root=root)


def handle_background(args: argparse.Namespace) -> int | None:
    """For ``train --background [--json]``: submit the run and print its id.

    Returns the exit status when ``args.background`` is set (the caller returns it),
    else None (the caller trains in the foreground).
    """
    if not getattr(args, "background", False):
        return None
    config = {k: v for k, v in vars(args).items() if k not in LAUNCHER_KEYS and v is not None}
    run = start_run(config, runs_root=getattr(args, "runs_root", None))
    if getattr(args, "run_dir", None):
        print(f"note: --run-dir is chosen by the launcher with --background; the run is in "
              f"{run.run_dir}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"id": run.id, "run_dir": run.run_dir, "state": run.state}))
    else:
        print(run.id)
    return 0


# ---------------------------------------------------------------- the queue

def _supervisor_command(run_id: str, root: Path) -> list[str]:
    code = ("import sys; from modelkit.runs import supervise; "
            "sys.exit(supervise(sys.argv[1], runs_root=sys.argv[2]))")
    return [sys.executable, "-c", code, run_id, os.fspath(root)]


def _child_env() -> dict:
    """The environment of launched processes: ours, with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.fspath(paths.REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _dispatch(con: sqlite3.Connection, root: Path) -> None:
    """Start queued runs, oldest first, while fewer than the limit are active.

    Runs inside the caller's write transaction, so two dispatchers never both see a
    free slot.
    """
    limit = _max_concurrent(con)
    active = con.execute(f"SELECT COUNT(*) FROM runs WHERE state IN {ACTIVE}").fetchone()[0]
    while active < limit:
        row = con.execute("SELECT * FROM runs WHERE state = 'queued' "
                          "ORDER BY queued_at, created LIMIT 1").fetchone()
        if row is None:
            return
        run_dir = root / row["id"]
        now = time.time()
        try:
            with (run_dir / "train.log").open("ab") as log:
                proc = subprocess.Popen(
                    _supervisor_command(row["id"], root), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    cwd=row["cwd"] if row["cwd"] and Path(row["cwd"]).is_dir() else root,
                    env=_child_env())
        except OSError as exc:
            con.execute("UPDATE runs SET state='failed', ended=?, error=? WHERE id=?",
                        (now, f"could not start the run's process: {exc}", row["id"]))
            continue
        con.execute(
            "UPDATE runs SET state='running', supervisor_pid=?, pid=NULL, started=?, ended=NULL,"
            " error=NULL, attempts=attempts+1 WHERE id=?", (proc.pid, now, row["id"]))
        # The folder's own record of the attempt, for a registry rebuilt meanwhile.
        _write_json(run_dir / "attempt.json", {"supervisor_pid": proc.pid, "started": now,
                                               "resume": bool(row["resume"]),
                                               "attempt": row["attempts"] + 1})
        active += 1


def train_command(row: sqlite3.Row | dict, run_dir: Path) -> list[str]:
    """The training child's command line for one attempt of a run.

    ``$FACESCOPE_TRAIN_COMMAND`` (a JSON list) replaces ``python -m modelkit``: the
    tests use it to drive the queue with a stand-in trainer that starts in
    milliseconds instead of importing TensorFlow.
    """
    argv = json.loads(row["argv"])
    prefix = json.loads(os.environ.get("FACESCOPE_TRAIN_COMMAND") or "null") or \
        [sys.executable, "-m", "modelkit"]
    cmd = [*prefix, "train", *argv, "--run-dir", os.fspath(run_dir)]
    return cmd + (["--resume"] if row["resume"] else [])


def supervise(run_id: str, *, runs_root: str | os.PathLike) -> int:
    """The supervisor: run one attempt of ``run_id``, record its end, move the queue.

    Runs in its own session, launched by :func:`_dispatch`; its output goes to the
    run's ``train.log``.
    """
    root = paths.runs_root(runs_root)
    run_dir = root / run_id
    with _transaction(root) as con:
        _adopt_folders(con, root)  # the registry may have been rebuilt since dispatch
        row = _row(con, run_id)
    if row["state"] in ACTIVE and not (run_dir / "CANCEL").exists():
        cmd = train_command(row, run_dir)
        print(f"[supervisor] {time.strftime('%H:%M:%S')} starting: {' '.join(cmd)}", flush=True)
        try:
            with (run_dir / "train.log").open("ab") as log:
                child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=os.getcwd(),
                                         env=_child_env())
        except OSError as exc:
            print(f"[supervisor] could not start the training process: {exc}", flush=True)
            returncode = 127
        else:
            with _transaction(root) as con:
                con.execute("UPDATE runs SET pid=? WHERE id=?", (child.pid, run_id))
            returncode = child.wait()
        print(f"[supervisor] {time.strftime('%H:%M:%S')} training process exited "
              f"with {_describe_exit(returncode)}", flush=True)
    else:
        returncode = None
    with _transaction(root) as con:
        _adopt_folders(con, root)
        row = _row(con, run_id)
        if row["state"] in ACTIVE:
            _finish(con, row, run_dir, returncode=returncode, never_started=returncode is None)
        _dispatch(con, root)
    return 0


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _finish(con: sqlite3.Connection, row: sqlite3.Row, run_dir: Path, *,
            returncode: int | None, never_started: bool = False) -> None:
    """Record how an attempt ended: the final status.json, or ``failed`` with a reason.

    When the process left no final status (killed, crashed hard), status.json is
    rewritten as ``failed`` too, so the folder alone tells what happened.
    """
    status = _fresh_status(row, run_dir)
    now = time.time()
    if never_started:
        state, error = "cancelled", None  # cancelled before its process started
        status = read_status(run_dir) or {}
        _write_json(run_dir / "status.json", {**_blank_status(row), **status, "state": state,
                                              "heartbeat": now, "error": None})
    elif status is not None and status.get("state") in FINAL:
        state, error = status["state"], status.get("error")
    else:
        state = "failed"
        error = DIED_REASON + (f" ({_describe_exit(returncode)})" if returncode is not None else "")
        previous = read_status(run_dir) or {}
        _write_json(run_dir / "status.json", {**_blank_status(row), **previous, "state": state,
                                              "heartbeat": now, "error": error,
                                              "traceback": None})
        status = previous
    with contextlib.suppress(FileNotFoundError):
        (run_dir / "CANCEL").unlink()
    con.execute(
        "UPDATE runs SET state=?, ended=?, error=?, heartbeat=COALESCE(?, heartbeat),"
        " epoch=COALESCE(?, epoch), epochs=COALESCE(?, epochs) WHERE id=?",
        (state, now, error, (status or {}).get("heartbeat"), (status or {}).get("epoch"),
         (status or {}).get("epochs"), row["id"]))


def _blank_status(row: sqlite3.Row) -> dict:
    return {"state": row["state"], "pid": row["pid"], "heartbeat": None, "epoch": row["epoch"] or 0,
            "epochs": row["epochs"], "batch": 0, "steps_per_epoch": None, "error": None,
            "traceback": None}


# ---------------------------------------------------------------- reconcile / adopt

def _adopt_folders(con: sqlite3.Connection, root: Path) -> None:
    """Register run folders the registry does not know (rebuild after a lost database,
    or a foreground ``train --run-dir`` under the runs root)."""
    known = {r["id"] for r in con.execute("SELECT id FROM runs")}
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in known):
        launch = _read_json(run_dir / "launch.json")
        status = read_status(run_dir)
        if launch is None and status is None:
            continue
        config = (launch or {}).get("config") or _read_json(run_dir / "config.json") or {}
        created = (launch or {}).get("created") or run_dir.stat().st_mtime
        attempt = _read_json(run_dir / "attempt.json") or {}
        supervisor = attempt.get("supervisor_pid")
        state = (status or {}).get("state", "queued")
        state = state if state in STATES else "failed"
        error = (status or {}).get("error")
        # A status older than the last attempt is the previous attempt's.
        stale = status is not None and float(status.get("heartbeat") or 0) < \
            float(attempt.get("started") or 0) - 1
        if status is None or stale or state not in FINAL:
            if _process_alive(supervisor, run_dir.name) is not False:
                state = "running"  # launched; its trainer may not have written status yet
            elif attempt and (status is None or stale):
                state, error = "failed", DIED_REASON  # the last attempt died early
            elif status is None:
                state = "queued"  # submitted, never launched
        if state == "running" and (run_dir / "CANCEL").exists():
            state = "cancelling"
        con.execute(
            "INSERT INTO runs (id, state, pid, supervisor_pid, config, argv, cwd, idempotency_key,"
            " config_hash, resume, attempts, created, queued_at, started, heartbeat, epoch, epochs,"
            " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_dir.name, state, (status or {}).get("pid"), supervisor, json.dumps(config),
             json.dumps((launch or {}).get("argv") or argv_from_config_safe(config)),
             (launch or {}).get("cwd"), (launch or {}).get("idempotency_key"),
             _config_hash(config), int(bool(attempt.get("resume"))), attempt.get("attempt", 0),
             created, created, attempt.get("started"), (status or {}).get("heartbeat"),
             (status or {}).get("epoch"), (status or {}).get("epochs"), error))


def argv_from_config_safe(config: dict) -> list[str]:
    """:func:`argv_from_config`, dropping keys the train command does not take
    (a resolved config.json also holds ``race_classes``, ``n_train`` ...)."""
    parser = _train_parser()
    if parser is None:
        return []
    dests = {a.dest for a in parser._actions if a.option_strings}
    return argv_from_config({k: v for k, v in config.items() if k in dests})


def reconcile(*, runs_root: str | os.PathLike | None = None) -> None:
    """Bring the registry in line with the processes and folders, and move the queue.

    Adopts unknown run folders, records runs that ended (their final status.json) or
    died (no live process: ``failed`` with the reason), refreshes heartbeats and
    epochs, then starts queued runs if a slot is free. Cheap; called on every read.
    """
    root = paths.runs_root(runs_root)
    with _transaction(root) as con:
        _adopt_folders(con, root)
        now = time.time()
        for row in con.execute(f"SELECT * FROM runs WHERE state IN {ACTIVE}").fetchall():
            run_dir = root / row["id"]
            status = _fresh_status(row, run_dir)
            if _alive(row, status, now):
                if status:
                    con.execute("UPDATE runs SET heartbeat=?, epoch=?, epochs=?, pid=COALESCE(pid, ?)"
                                " WHERE id=?", (status.get("heartbeat"), status.get("epoch"),
                                                status.get("epochs"), status.get("pid"), row["id"]))
                continue
            _finish(con, row, run_dir, returncode=None)
        _dispatch(con, root)


# ---------------------------------------------------------------- read

def _info(row: sqlite3.Row, root: Path, queue: dict[str, int], now: float) -> RunInfo:
    run_dir = root / row["id"]
    status = read_status(run_dir) or {}
    fresh = row["state"] in ACTIVE and _fresh_status(row, run_dir) is not None
    beat = status.get("heartbeat") if (fresh or row["state"] in FINAL) else row["heartbeat"]
    return RunInfo(
        id=row["id"], state=row["state"], pid=row["pid"], run_dir=os.fspath(run_dir),
        config={**json.loads(row["config"] or "{}"), **(_read_json(run_dir / "config.json") or {})},
        created=row["created"], started=row["started"],
        ended=row["ended"], heartbeat=beat,
        epoch=status.get("epoch", row["epoch"]), epochs=status.get("epochs", row["epochs"]),
        batch=status.get("batch"), steps_per_epoch=status.get("steps_per_epoch"),
        error=row["error"] or (status.get("error") if row["state"] == "failed" else None),
        traceback=status.get("traceback") if row["state"] == "failed" else None,
        attempts=row["attempts"], resume=bool(row["resume"]),
        queue_position=queue.get(row["id"]),
        stalled=bool(fresh and beat and now - float(beat) > STALE_S),
    )


def list_runs(*, runs_root: str | os.PathLike | None = None,
              reconcile_first: bool = True) -> list[RunInfo]:
    """All runs, newest first, after :func:`reconcile`."""
    root = paths.runs_root(runs_root)
    if reconcile_first:
        reconcile(runs_root=root)
    con = _connect(root)
    try:
        rows = con.execute("SELECT * FROM runs ORDER BY created DESC").fetchall()
    finally:
        con.close()
    queued = sorted((r for r in rows if r["state"] == "queued"),
                    key=lambda r: (r["queued_at"] or 0, r["created"]))
    queue = {r["id"]: i + 1 for i, r in enumerate(queued)}
    now = time.time()
    return [_info(r, root, queue, now) for r in rows]


def show(run_id: str, *, runs_root: str | os.PathLike | None = None,
         reconcile_first: bool = True) -> RunInfo:
    """One run (after :func:`reconcile`). Raises ValueError for an unknown id."""
    for run in list_runs(runs_root=runs_root, reconcile_first=reconcile_first):
        if run.id == run_id:
            return run
    raise ValueError(f"no run {run_id!r} under {paths.runs_root(runs_root)}; "
                     "`python -m modelkit runs list` shows the runs there")


# ---------------------------------------------------------------- act

def cancel(run_id: str, *, runs_root: str | os.PathLike | None = None) -> RunInfo:
    """Ask a run to stop. A queued run is cancelled at once and never starts; a
    running one gets the ``CANCEL`` file and ends ``cancelled`` at the next batch
    boundary, keeping its checkpoint. Cancelling an ended run is an error."""
    root = paths.runs_root(runs_root)
    reconcile(runs_root=root)
    with _transaction(root) as con:
        row = _row(con, run_id)
        run_dir = root / run_id
        if row["state"] == "queued":
            now = time.time()
            con.execute("UPDATE runs SET state='cancelled', ended=? WHERE id=?", (now, run_id))
            previous = read_status(run_dir) or {}
            _write_json(run_dir / "status.json", {**_blank_status(row), **previous,
                                                  "state": "cancelled", "heartbeat": now,
                                                  "error": None, "traceback": None})
        elif row["state"] in ACTIVE:
            (run_dir / "CANCEL").write_text(f"cancel requested at {time.ctime()}\n")
            con.execute("UPDATE runs SET state='cancelling' WHERE id=?", (run_id,))
        else:
            raise ValueError(f"run {run_id} has already ended ({row['state']}); nothing to cancel")
    return show(run_id, runs_root=root)


def resume(run_id: str, *, runs_root: str | os.PathLike | None = None) -> RunInfo:
    """Queue a cancelled or failed run again; it restarts with ``--resume`` (from its
    checkpoint, up to the planned epoch count) when a slot is free."""
    root = paths.runs_root(runs_root)
    reconcile(runs_root=root)
    with _transaction(root) as con:
        row = _row(con, run_id)
        if row["state"] not in ("cancelled", "failed"):
            raise ValueError(f"run {run_id} is {row['state']}; only a cancelled or failed run "
                             "can be resumed")
        with contextlib.suppress(FileNotFoundError):
            (root / run_id / "CANCEL").unlink()
        con.execute("UPDATE runs SET state='queued', resume=1, queued_at=?, ended=NULL, error=NULL,"
                    " pid=NULL, supervisor_pid=NULL WHERE id=?", (time.time(), run_id))
        _dispatch(con, root)
    return show(run_id, runs_root=root)


def delete(run_id: str, *, runs_root: str | os.PathLike | None = None) -> None:
    """Remove a run's folder and registry row. Refused while it runs (cancel first)."""
    root = paths.runs_root(runs_root)
    reconcile(runs_root=root)
    with _transaction(root) as con:
        row = _row(con, run_id)
        if row["state"] in ACTIVE:
            raise ValueError(f"run {run_id} is {row['state']}; cancel it and wait for it to "
                             "end before deleting it")
        run_dir = root / run_id
        if run_dir.resolve().parent != root.resolve():
            raise ValueError(f"refusing to delete {run_dir}: not a folder of {root}")
        if run_dir.exists():
            shutil.rmtree(run_dir)
        con.execute("DELETE FROM runs WHERE id=?", (run_id,))


def wait(run_id: str, *, runs_root: str | os.PathLike | None = None,
         timeout: float | None = None, poll_s: float = 0.5) -> RunInfo:
    """Block until the run ends (finished, failed or cancelled) or ``timeout`` passes.

    Returns the run as last seen; the caller checks ``.state``.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = show(run_id, runs_root=runs_root)
        if run.is_final or (deadline is not None and time.monotonic() >= deadline):
            return run
        time.sleep(poll_s)


# ---------------------------------------------------------------- progress

def _fraction(*, epoch: int, batch: int, epochs: int, steps: int) -> float:
    """Fraction of the planned batches done after ``epoch`` whole epochs and ``batch``
    batches of the next one."""
    if not epochs:
        return 0.0
    if not steps:
        return min(max(epoch / epochs, 0.0), 1.0)
    return min(max((epoch * steps + min(batch, steps)) / (epochs * steps), 0.0), 1.0)


def _line_fraction(line: dict, *, epochs: int, steps: int) -> float:
    """How far a metrics.jsonl line says the run was (epoch lines: that epoch done;
    progress lines: ``batch`` batches into 1-based ``epoch``)."""
    if line.get("type") == "progress":
        return _fraction(epoch=int(line.get("epoch", 1)) - 1, batch=int(line.get("batch") or 0),
                         epochs=epochs, steps=steps)
    return _fraction(epoch=int(line.get("epoch", 0)), batch=0, epochs=epochs, steps=steps)


def progress(run: RunInfo, *, now: float | None = None) -> dict:
    """Where a run is: fraction done, ETA in seconds and images/s, from its status and
    its metrics stream.

    The ETA extrapolates the rate seen since the current attempt's first metrics line,
    so a resumed run is not credited with the epochs it did before.
    """
    now = time.time() if now is None else now
    epochs = int(run.epochs or run.config.get("epochs") or 0)
    steps = int(run.steps_per_epoch or 0)
    done = 1.0 if run.state == "finished" else _fraction(
        epoch=run.epoch or 0, batch=run.batch or 0, epochs=epochs, steps=steps)
    lines = [m for m in read_metrics(run.run_dir)
             if m.get("type") in ("epoch", "progress") and (m.get("time") or 0) >= (run.started or 0)]
    speed = next((m["images_per_s"] for m in reversed(lines) if m.get("images_per_s")), None)
    eta = None
    if run.state in ACTIVE and lines and (now - float(lines[0]["time"])) > 0:
        start = _line_fraction(lines[0], epochs=epochs, steps=steps)
        rate = (done - start) / (now - float(lines[0]["time"]))
        if rate > 0:
            eta = (1.0 - done) / rate
    return {"fraction": done, "eta_s": eta, "images_per_s": speed, "epoch": run.epoch or 0,
            "epochs": epochs, "batch": run.batch or 0, "steps_per_epoch": steps}


def epoch_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The epoch lines of ``metrics.jsonl``, last one per epoch (a resumed run that
    redid an epoch keeps the later one), in epoch order."""
    by_epoch: dict[int, dict] = {}
    for line in read_metrics(run_dir):
        if line.get("type") == "epoch" and "epoch" in line:
            by_epoch[int(line["epoch"])] = line
    return [by_epoch[k] for k in sorted(by_epoch)]


# ---------------------------------------------------------------- device

_TF_DEVICES = ("import json, tensorflow as tf; print(json.dumps([tf.config.experimental."
               "get_device_details(d).get('device_name', d.name) for d in "
               "tf.config.list_physical_devices('GPU')]))")


def detect_devices(*, use_tensorflow: bool = False, timeout: float = 120.0) -> dict:
    """Which device a training run will use: ``{"kind": "GPU"|"CPU", "names": [...],
    "how": ..., "note": ...}``.

    The quick answer (``use_tensorflow=False``) asks ``nvidia-smi``, which takes
    milliseconds but does not prove TensorFlow can use the GPU; the exact answer
    asks TensorFlow itself in a subprocess (seconds: it imports TensorFlow, which a
    Streamlit page should not do in its own process).
    """
    if use_tensorflow:
        try:
            out = subprocess.run([sys.executable, "-c", _TF_DEVICES], capture_output=True,
                                 text=True, timeout=timeout, env=_child_env())
            names = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
            names = None
        if names is None:
            return {"kind": "unknown", "names": [], "how": "tensorflow",
                    "note": "TensorFlow could not be asked which devices it sees."}
        if names:
            return {"kind": "GPU", "names": names, "how": "tensorflow",
                    "note": "TensorFlow sees these GPUs; a run uses them all."}
        return {"kind": "CPU", "names": [], "how": "tensorflow",
                "note": "TensorFlow sees no GPU: training runs on the CPU (slow beyond "
                        "small images and small_cnn)."}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        names = [n.strip() for n in out.stdout.splitlines() if n.strip()] if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        names = []
    if names:
        return {"kind": "GPU", "names": names, "how": "nvidia-smi",
                "note": "found by nvidia-smi; TensorFlow uses it when built with CUDA."}
    return {"kind": "CPU", "names": [], "how": "nvidia-smi",
            "note": "no NVIDIA GPU found: training runs on the CPU (fine for small images "
                    "and small_cnn)."}
