"""The corrections file: a person's label decisions, kept apart from the dataset.

A decision never touches the dataset's files. It is one JSON line appended to the
dataset's corrections file, by default ``<runs root>/corrections/<source>-<key>.jsonl``
where ``key`` hashes the dataset's root and labels file (:func:`corrections_path`);
any other file can be named instead (next to the data, say). Each line::

    {"path": "25_1_2_2017....jpg.chip.jpg", "attribute": "gender", "action": "set",
     "value": "male", "given": "female", "time": 1732370000.5, "note": null,
     "by": "carol@lab.example"}

- ``path``: relative to the dataset root when the image lies under it, else absolute;
- ``attribute``: one of :data:`CORRECTABLE` (``age`` in years, ``age_group`` for
  sources that give only the group);
- ``action``: ``set`` (with ``value``), ``keep`` (the label is right), ``exclude``
  (drop the image from training) or ``undo`` (withdraw the previous decision on the
  same path and attribute, so the one before it, if any, holds again);
- ``by``: who decided (a signed-in address, or ``os:<name>`` from the command line);
  absent from files written before it was recorded, which still read (as None).

The file is append-only: the latest decision per (path, attribute), in file order,
wins, and nothing is lost. Writers take an exclusive ``fcntl.flock`` and append each
line with one ``write`` on an ``O_APPEND`` descriptor, so two writers at once (two
browser tabs) each add their row and the later one wins.
``modelkit.curation.apply`` turns the latest decisions into a corrected ``Dataset``.

Example::

    file = corrections_path(source="utkface", root="../shared/data/utkface_sample")
    record_decision(file, root=root, path=p, attribute="age", action="set", value=34)
    latest_decisions(read_decisions(file))[(p, "age")].value  # 34
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from modelkit import labels, paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor

try:  # POSIX; elsewhere appends stay single O_APPEND writes without the lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

CORRECTIONS_DIR = "corrections"
CORRECTABLE = ("gender", "race", "age_group", "age")
ACTIONS = ("set", "keep", "exclude", "undo")


@dataclass(frozen=True)
class Decision:
    """One line of a corrections file (see the module docstring)."""

    path: str
    attribute: str
    action: str
    value: str | float | None = None
    given: str | float | None = None
    time: float = 0.0
    note: str | None = None
    by: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.attribute

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------ where it lives
def dataset_key(*, source: str, root: str | os.PathLike | None = None,
                labels_file: str | os.PathLike | None = None) -> str:
    """``<source>-<12 hex digits>``: the dataset's name in the corrections folder, a
    hash of its resolved root and labels file (so two folders never share a file)."""
    parts = [source] + [str(Path(p).expanduser().resolve()) if p else "" for p in (root, labels_file)]
    return f"{source}-{hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]}"


def corrections_path(*, source: str, root: str | os.PathLike | None = None,
                     labels_file: str | os.PathLike | None = None,
                     runs_root: str | os.PathLike | None = None) -> Path:
    """The default corrections file of a dataset, under the runs root."""
    key = dataset_key(source=source, root=root, labels_file=labels_file)
    return paths.runs_root(runs_root) / CORRECTIONS_DIR / f"{key}.jsonl"


def config_corrections_path(config, *, runs_root: str | os.PathLike | None = None) -> Path:
    """The default corrections file of the dataset a ``TrainConfig`` (or a run's
    ``config.json`` dict) names."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name)
    return corrections_path(source=get("source"), root=get("root"), labels_file=get("labels"),
                            runs_root=runs_root)


def relative_path(path: str | os.PathLike, *, root: str | os.PathLike | None) -> str:
    """How a decision names an image: relative to ``root`` when it lies under it
    (the file then survives moving the dataset), else absolute. A relative ``path``
    is taken as relative to ``root`` already."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    if root:
        with contextlib.suppress(ValueError):
            return path.relative_to(Path(root).expanduser().resolve()).as_posix()
    return path.as_posix()


# ------------------------------------------------------------------------------ values
def check_value(attribute: str, value, *, race_classes) -> str | float:
    """``value`` as stored for ``attribute`` (a class name, or whole years for age).

    Raises:
        ValueError: an unknown attribute, or a value outside its vocabulary; the
            message lists the allowed values.
    """
    if attribute not in CORRECTABLE:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {', '.join(CORRECTABLE)}")
    if attribute == "age":
        try:
            years = float(value)
        except (TypeError, ValueError):
            years = float("nan")
        if np.isnan(years) or labels.age_out_of_range([years])[0]:
            raise ValueError(f"age must be a number of years from {labels.MIN_AGE} to "
                             f"{labels.MAX_AGE}; got {value!r}")
        return float(round(years))
    allowed = {"gender": labels.GENDERS, "race": tuple(race_classes),
               "age_group": labels.AGE_GROUPS}[attribute]
    if str(value) not in allowed:
        raise ValueError(f"{attribute} value {value!r} is not allowed; use one of "
                         f"{', '.join(allowed)}")
    return str(value)


# ------------------------------------------------------------------------- read / write
@contextlib.contextmanager
def _locked(fd: int, kind: int) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(fd, kind)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def append_decision(file: str | os.PathLike, decision: Decision) -> Decision:
    """Append one decision as one line, under an exclusive lock (parents created)."""
    if decision.action not in ACTIONS:
        raise ValueError(f"unknown action {decision.action!r}; expected one of {', '.join(ACTIONS)}")
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(decision.to_dict()) + "\n").encode()
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd, fcntl.LOCK_EX if fcntl else 0):
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
    finally:
        os.close(fd)
    return decision


def record_decision(file: str | os.PathLike, *, path: str | os.PathLike, attribute: str,
                    action: str, value=None, given=None, note: str | None = None,
                    race_classes, root: str | os.PathLike | None = None,
                    actor: Actor | None = None,
                    runs_root: str | os.PathLike | None = None) -> Decision:
    """Check a decision and append it to ``file``; returns what was written.

    Args:
        path: the image (absolute, or relative to ``root``).
        action: ``set`` (needs ``value``), ``keep``, ``exclude`` or ``undo``.
        value: the new label for ``set``: checked against the vocabulary
            (``race_classes`` for race, 0..100 years for age).
        given: the label the image had (recorded for the audit trail).
        root: the dataset root, so the path is stored relative to it.
        actor: who decides (default the OS user): needs the ``curator`` role; recorded
            as ``by``, and in the audit log under ``runs_root``.

    Raises:
        ValueError: unknown attribute or action, ``set`` without a value, a value
            outside the vocabulary (the message lists the allowed ones).
        modelkit.access.AccessDenied: the actor may not decide labels.
    """
    actor = actor or local_actor()
    with audited(actor, "label.decide", runs_root=runs_root, target=f"{path} {attribute}"):
        return _record(file, path=path, attribute=attribute, action=action, value=value,
                       given=given, note=note, race_classes=race_classes, root=root,
                       by=actor.user)


def _record(file, *, path, attribute: str, action: str, value, given, note, race_classes,
            root, by: str) -> Decision:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if attribute not in CORRECTABLE:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {', '.join(CORRECTABLE)}")
    if action == "set":
        if value is None or value == "":
            raise ValueError("action 'set' needs a value (the new label)")
        value = check_value(attribute, value, race_classes=race_classes)
    else:
        value = None
    if isinstance(given, (float, np.floating)) and np.isnan(given):
        given = None
    if given is not None:
        given = float(given) if isinstance(given, (int, float, np.number)) else str(given)
    decision = Decision(path=relative_path(path, root=root), attribute=attribute, action=action,
                        value=value, given=given, time=time.time(), note=note or None, by=by)
    return append_decision(file, decision)


def read_bytes(file: str | os.PathLike) -> bytes:
    """The file's bytes under a shared lock (b"" when there is no file yet)."""
    try:
        fd = os.open(file, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    try:
        with _locked(fd, fcntl.LOCK_SH if fcntl else 0), os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def parse_decisions(data: bytes, *, name: str = "corrections file") -> list[Decision]:
    """Every decision in file order. A last line without its newline (a writer that
    died mid-write) is ignored.

    Raises:
        ValueError: a file that is not UTF-8, or a line that is not a decision, naming
            the file and the line number.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{name}: not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                         "a corrections file must be UTF-8 JSON lines: save it as UTF-8, or "
                         "fix or delete that line") from None
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: after the last newline
        if not line.strip():
            continue
        try:
            values = json.loads(line)
            decision = Decision(**{k: values[k] for k in values if k in Decision.__dataclass_fields__})
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{name}: line {number} is not a decision ({exc}); "
                             "fix or delete that line") from None
        if decision.action not in ACTIONS or decision.attribute not in CORRECTABLE:
            raise ValueError(f"{name}: line {number}: action must be one of {', '.join(ACTIONS)} "
                             f"and attribute one of {', '.join(CORRECTABLE)}; got "
                             f"{decision.action!r}, {decision.attribute!r}")
        rows.append(decision)
    return rows


def read_decisions(file: str | os.PathLike) -> list[Decision]:
    """Every decision of ``file`` in file order ([] when it does not exist)."""
    return parse_decisions(read_bytes(file), name=str(file))


def latest_decisions(decisions: list[Decision]) -> dict[tuple[str, str], Decision]:
    """The standing decision per (path, attribute): the latest, where each ``undo``
    withdraws the latest one still standing (two undos withdraw two)."""
    stacks: dict[tuple[str, str], list[Decision]] = {}
    for decision in decisions:
        stack = stacks.setdefault(decision.key, [])
        if decision.action == "undo":
            if stack:
                stack.pop()
        else:
            stack.append(decision)
    return {key: stack[-1] for key, stack in stacks.items() if stack}


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
