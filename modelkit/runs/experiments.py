"""Remedy experiments: the run as configured plus a control that differs in one setting.

Did rebalancing by race close the gap? Only a run that differs in that setting alone,
trained on the same images in the same split with the same seed, can say. An
experiment is two runs queued together: the **treatment** (the config as given) and
the **control** (the same config with the ``control`` settings changed, by default
``balance=none``). The registry links them with one ``experiment`` id and each run's
``experiment_role``; ``launch.json`` keeps the link too, so a rebuilt registry finds it.
The queue trains them one after the other (treatment first) under the default limit.

The settings that choose the images (``FIXED``: source, root, labels, limit, seed)
cannot be varied: the Compare page pairs the two runs' predictions image by image.

Example::

    from modelkit.runs.experiments import start_experiment
    treatment, control = start_experiment({"source": "synthetic", "balance": "race"},
                                          control={"balance": "none"})
    treatment.experiment == control.experiment          # True
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
import typing
from collections.abc import Iterable

from modelkit import paths
from modelkit.access.audit import audited
from modelkit.access.roles import Actor, local_actor
from modelkit.config import TrainConfig, parse_loss_weights, parse_target
from modelkit.labels import HEADS
from modelkit.runs import launcher, queue, reconciler, registry
from modelkit.runs.info import RunInfo

ROLES: tuple[str, ...] = ("treatment", "control")
ROLE_TITLES = {"treatment": "remedy", "control": "control"}  # the remedy: as configured
# The settings that choose which images a run trains and is evaluated on.
FIXED: tuple[str, ...] = ("source", "root", "labels", "limit", "seed")
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig))
VARIABLE: tuple[str, ...] = tuple(sorted(set(FIELDS) - set(FIXED)))
# Ready-made controls (the Train page's picker; the CLI takes any KEY=VALUE). The first
# is the default: did the rebalancing help?
CONTROLS: dict[str, dict[str, object]] = {
    "no_balance": {"balance": "none"},
    "equal_loss_weights": {"loss_weights": {head: 1.0 for head in HEADS}},
    "no_augment": {"augment": False},
}
CONTROL_TITLES = {"no_balance": "no balancing (balance=none)",
                  "equal_loss_weights": "equal loss weights (1 each)",
                  "no_augment": "no augmentation (augment=false)"}
DEFAULT_CONTROL: dict[str, object] = CONTROLS["no_balance"]
_PARSERS = {"target": parse_target, "loss_weights": parse_loss_weights}
_HINTS = typing.get_type_hints(TrainConfig)
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


# ----------------------------------------------------------------------------- parsing
def parse_value(name: str, text: str) -> object:
    """``text`` as the type of TrainConfig's field ``name`` (``"5"`` -> 5 for epochs).

    Raises:
        ValueError: an unknown field, or text that is not of the field's type.
    """
    if name not in FIELDS:
        raise ValueError(f"control setting {name}={text}: {name!r} is not a train setting; "
                         f"vary one of: {', '.join(VARIABLE)}")
    if name in _PARSERS:
        try:
            return _PARSERS[name](text)
        except ValueError as exc:
            raise ValueError(f"control setting {name}={text}: {exc}") from None
    kinds = typing.get_args(_HINTS[name]) or (_HINTS[name],)
    if type(None) in kinds and text.strip().lower() in ("none", "null"):
        return None
    kind = next(k for k in kinds if k is not type(None))
    word = text.strip().lower()
    if kind is bool:
        if word in _TRUE + _FALSE:
            return word in _TRUE
        raise ValueError(f"control setting {name}={text}: {name} is true or false")
    try:
        return kind(text.strip()) if kind in (int, float) else text
    except ValueError:
        raise ValueError(f"control setting {name}={text}: {name} takes "
                         f"{'an integer' if kind is int else 'a number'}") from None


def parse_control_item(item: str) -> tuple[str, object]:
    """One ``KEY=VALUE`` (the CLI's ``--control``) as ``(key, typed value)``.

    Raises:
        ValueError: no ``=``, an unknown key, or a value of the wrong type; the message
            names the item and lists the settings that may be varied.
    """
    key, sep, text = str(item).partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ValueError(f"control setting {item!r}: expected KEY=VALUE, e.g. balance=none; "
                         f"KEY is one of: {', '.join(VARIABLE)}")
    return key, parse_value(key, text)


def parse_control(items: Iterable[str]) -> dict[str, object]:
    """``["balance=none", "epochs=5"]`` -> ``{"balance": "none", "epochs": 5}``.

    Raises:
        ValueError: see :func:`parse_control_item`; also a key given twice.
    """
    control: dict[str, object] = {}
    for item in items:
        key, value = parse_control_item(item)
        if key in control:
            raise ValueError(f"control setting {key} is given twice ({item!r}); give it once")
        control[key] = value
    return control


def control_config(config: TrainConfig | dict, control: dict[str, object]) -> TrainConfig:
    """The control run's config: ``config`` with the ``control`` settings changed.

    Raises:
        ValueError: no control setting, an unknown or fixed one (``FIXED``), a value
            TrainConfig refuses, or a control identical to ``config``.
    """
    config = launcher.as_config(config)
    if not control:
        raise ValueError("a control run needs at least one setting to vary, e.g. "
                         f"balance=none; vary one of: {', '.join(VARIABLE)}")
    for key in control:
        if key not in FIELDS:
            raise ValueError(f"control setting {key!r} is not a train setting; vary one of: "
                             f"{', '.join(VARIABLE)}")
        if key in FIXED:
            raise ValueError(f"control setting {key!r} cannot be varied: both runs of an "
                             f"experiment keep {', '.join(FIXED)} (the same images, split and "
                             f"seed, so they can be compared image by image); vary one of: "
                             f"{', '.join(VARIABLE)}")
    try:
        other = dataclasses.replace(config, **control)
    except ValueError as exc:
        raise ValueError(f"the control run's settings are refused: {exc}") from None
    if not config.differences(other):
        shown = ", ".join(f"{k}={v}" for k, v in control.items())
        raise ValueError(f"the control ({shown}) is what the run already has, so both runs "
                         "would be the same; change the run's settings or vary another one")
    return other


# ----------------------------------------------------------------------------- starting
def _new_experiment_id() -> str:
    return f"exp-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _recent_twin(con, treatment: TrainConfig, control: TrainConfig, *, now: float) -> str | None:
    """An experiment with these two configs submitted less than DEDUP_WINDOW_S ago."""
    digests = {role: queue.settings_hash("train", c.with_absolute_paths().to_dict())
               for role, c in (("treatment", treatment), ("control", control))}
    row = con.execute(
        "SELECT t.experiment FROM runs t JOIN runs c ON c.experiment = t.experiment"
        " WHERE t.experiment_role = 'treatment' AND c.experiment_role = 'control'"
        " AND t.config_hash = ? AND c.config_hash = ? AND t.created > ?"
        " ORDER BY t.created DESC",
        (digests["treatment"], digests["control"], now - queue.DEDUP_WINDOW_S)).fetchone()
    return None if row is None else row[0]


def start_experiment(config: TrainConfig | dict, *, control: dict[str, object],
                     runs_root: str | os.PathLike | None = None,
                     idempotency_key: str | None = None,
                     actor: Actor | None = None) -> list[RunInfo]:
    """Queue the run as configured and its control, linked as one experiment.

    Both runs are queued in one registry transaction, so they are linked before either
    starts; the queue trains them one after the other (the run as configured first).

    Args:
        config: the run as configured (a TrainConfig or a dict of its fields).
        control: the settings the control changes, e.g. ``{"balance": "none"}``
            (:func:`parse_control` turns the CLI's ``KEY=VALUE`` into this).
        runs_root: default ``$FACESCOPE_RUNS_ROOT`` or ./runs.
        idempotency_key: a client token; a second start with the same key returns the
            first experiment's runs. Without one, the same pair submitted less than
            ``DEDUP_WINDOW_S`` seconds after another returns that pair (a double click).

    Returns:
        ``[treatment, control]``: both with the same ``experiment`` id.

    Raises:
        ValueError: a bad setting in ``config`` or ``control`` (nothing is queued).
        modelkit.access.AccessDenied: the actor (default the OS user) may not start
            runs, or the pair would pass their quota (neither is queued).
    """
    actor = actor or local_actor()
    root = paths.runs_root(runs_root)
    with audited(actor, "experiment.start", runs_root=root) as entry:
        ids = _queue_pair(config, control, root, idempotency_key=idempotency_key, actor=actor)
        entry.target = ",".join(ids)
    return [registry.show(run_id, runs_root=root) for run_id in ids]


def _queue_pair(config, control: dict, root, *, idempotency_key: str | None,
                actor: Actor) -> list[str]:
    treatment = launcher.as_config(config)
    other = control_config(treatment, control)
    now = time.time()
    with registry.transaction(root) as con:
        reconciler.sync(con, root)
        if idempotency_key:
            row = con.execute("SELECT experiment FROM runs WHERE idempotency_key = ?",
                              (f"{idempotency_key}/treatment",)).fetchone()
            found = None if row is None else row[0]
        else:
            found = _recent_twin(con, treatment, other, now=now)
        if found is None:
            queue.check_quota(con, actor, adding=2)  # both or neither: no half-queued pair
            found = _new_experiment_id()
            base = idempotency_key or found  # a key of its own: never folded into a plain run
            ids = [launcher.submit(con, root, c, idempotency_key=f"{base}/{role}",
                                   experiment={"id": found, "role": role}, actor=actor)
                   for role, c in (("treatment", treatment), ("control", other))]
        else:
            roles = dict(con.execute("SELECT experiment_role, id FROM runs WHERE experiment = ?",
                                     (found,)).fetchall())
            ids = [roles[role] for role in ROLES if role in roles]
        queue.dispatch(con, root)
    return ids


# ----------------------------------------------------------------------------- reading
def group_experiments(found: Iterable[RunInfo]) -> dict[str, dict[str, RunInfo]]:
    """``{experiment id: {role: run}}`` of the runs that belong to an experiment,
    newest experiment first (as ``list_runs`` orders the runs). A deleted run leaves
    its partner alone in the experiment."""
    groups: dict[str, dict[str, RunInfo]] = {}
    for run in found:
        if run.experiment:
            groups.setdefault(run.experiment, {})[run.experiment_role or "treatment"] = run
    return groups


def partners(run_id: str, *, runs_root: str | os.PathLike | None = None) -> list[RunInfo]:
    """The other runs of ``run_id``'s experiment (empty when it is in none).

    Raises:
        ValueError: an unknown run.
    """
    run = registry.show(run_id, runs_root=runs_root)
    if not run.experiment:
        return []
    return [r for r in registry.list_runs(runs_root=runs_root)
            if r.experiment == run.experiment and r.id != run.id]


def _train_config(value: RunInfo | TrainConfig | dict) -> TrainConfig:
    if isinstance(value, TrainConfig):
        return value
    return TrainConfig.from_dict(value.config if isinstance(value, RunInfo) else value)


def describe_control(treatment: RunInfo | TrainConfig | dict,
                     control: RunInfo | TrainConfig | dict) -> str:
    """What the control changes, e.g. ``balance: race → none`` (run configs' extras
    such as ``race_classes`` are left out)."""
    changes = _train_config(treatment).differences(_train_config(control))
    return ", ".join(f"{k}: {a} → {b}" for k, (a, b) in changes.items()) or "nothing"
