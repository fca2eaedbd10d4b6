"""The audit log: ``<runs root>/audit.jsonl``, one JSON line per state-changing action,
refusals included::

    {"time": "2026-12-07T10:31:02.412Z", "user": "bob@lab.example", "role": "trainer",
     "action": "run.start", "target": "20261207-103102-a1b2c3", "result": "ok",
     "detail": null}

``result`` is ``ok``, ``refused`` (the role, the run's owner or the quota said no;
``detail`` says why) or ``failed`` (the action raised; ``detail`` is the error). Lines
are appended with one ``write`` on an ``O_APPEND`` descriptor, so concurrent writers
(two sessions, the CLI) never interleave within a line. The file is only ever appended to.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from modelkit import paths
from modelkit.access.roles import AccessDenied, Actor, check, check_owner

AUDIT_FILE = "audit.jsonl"
RESULTS: tuple[str, ...] = ("ok", "refused", "failed")


def audit_path(runs_root: str | os.PathLike | None = None) -> Path:
    """``<runs root>/audit.jsonl``."""
    return paths.runs_root(runs_root) / AUDIT_FILE


def append(runs_root: str | os.PathLike | None, actor: Actor, action: str, *,
           target: str | None, result: str, detail: str | None = None) -> dict:
    """Append one line to the audit log (the runs root is created if need be)."""
    if result not in RESULTS:
        raise ValueError(f"unknown audit result {result!r}; expected one of {', '.join(RESULTS)}")
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": actor.user, "role": actor.role, "action": action, "target": target,
            "result": result, "detail": detail}
    file = audit_path(runs_root)
    file.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line) + "\n").encode()
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return line


def read_audit(runs_root: str | os.PathLike | None = None) -> list[dict]:
    """Every line of the audit log, oldest first ([] when there is none). A last line
    cut short by a crash is skipped."""
    try:
        text = audit_path(runs_root).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


@dataclass
class Entry:
    """The audit line an :func:`audited` block will write: the block sets ``target``
    once it is known (a new run's id) and calls :meth:`owned_by` for an action on one run."""

    actor: Actor
    action: str
    target: str | None = None

    def owned_by(self, owner: str | None) -> None:
        """Refuse (and so audit a refusal) unless the actor may act on ``owner``'s run."""
        check_owner(self.actor, self.action, owner)


@contextlib.contextmanager
def audited(actor: Actor, action: str, *, runs_root: str | os.PathLike | None,
            target: str | None = None) -> Iterator[Entry]:
    """Check ``actor``'s role for ``action``, run the block, and audit the outcome.

    A refusal (at the door, or an :class:`AccessDenied` the block raises: the run's
    owner, the quota) is logged ``refused`` and re-raised; any other error is logged
    ``failed`` and re-raised; otherwise ``ok``.
    """
    entry = Entry(actor=actor, action=action, target=target)
    try:
        check(actor, action)
        yield entry
    except AccessDenied as exc:
        append(runs_root, actor, action, target=entry.target, result="refused", detail=str(exc))
        raise
    except Exception as exc:
        append(runs_root, actor, action, target=entry.target, result="failed",
               detail=f"{type(exc).__name__}: {exc}")
        raise
    append(runs_root, actor, action, target=entry.target, result="ok")
