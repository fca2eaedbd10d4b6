"""The roles of a shared server, the actions each allows, and the check.

Roles are ordered: each one can do what the one before it can, and more.

- ``viewer``: reads everything (no action below);
- ``trainer``: starts, cancels, resumes and deletes runs, prediction jobs and rankings,
  and adds outside models;
- ``curator``: also decides labels;
- ``admin``: everything, including cancelling, resuming and deleting other people's runs.

Reading is never checked: whoever is let in may read. Acting is checked in the function
that acts (:func:`check`), with the run's owner for the actions on one run.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

ROLES: tuple[str, ...] = ("viewer", "trainer", "curator", "admin")

# action -> the least role allowed to do it
ACTIONS: dict[str, str] = {
    "run.start": "trainer",
    "experiment.start": "trainer",
    "job.start": "trainer",  # a prediction job or a ranking
    "run.cancel": "trainer",
    "run.resume": "trainer",
    "run.delete": "trainer",
    "model.add": "trainer",
    "label.decide": "curator",
}
# Actions on one run: below admin, only on one's own.
OWNED_ACTIONS: frozenset[str] = frozenset({"run.cancel", "run.resume", "run.delete"})


class AccessDenied(PermissionError):
    """An actor tried what their role does not allow (the message says what would)."""


class QuotaExceeded(AccessDenied):
    """A start beyond the actor's quota of unfinished runs."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: ``user`` is a signed-in e-mail address or ``os:<name>`` from the
    command line; ``queue_quota`` is how many unfinished runs they may have (None: no
    limit)."""

    user: str
    role: str
    queue_quota: int | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if not self.user:
            raise ValueError("an actor needs a user name")


def local_actor() -> Actor:
    """The person at this machine's shell: ``os:<name>``, an admin with no quota.

    Whoever can run ``python -m modelkit`` here can also write the runs folder directly,
    so a role below admin would protect nothing.
    """
    return Actor(user=f"os:{getpass.getuser()}", role="admin")


def _rank(role: str) -> int:
    return ROLES.index(role)


def allowed(actor: Actor, action: str) -> bool:
    """Whether ``actor``'s role allows ``action`` at all (what a page shows buttons for);
    an action on one run also needs :func:`check_owner`."""
    return _refusal(actor, action) is None


def check(actor: Actor, action: str) -> None:
    """Raise :class:`AccessDenied` unless ``actor``'s role allows ``action``.

    Raises:
        ValueError: an unknown action (the message lists them).
        AccessDenied: the role is below the action's.
    """
    reason = _refusal(actor, action)
    if reason is not None:
        raise AccessDenied(reason)


def check_owner(actor: Actor, action: str, owner: str | None) -> None:
    """Raise :class:`AccessDenied` when ``action`` is on one run and the run is someone
    else's (``owner``: its ``started_by``) and ``actor`` is not an admin."""
    if action in OWNED_ACTIONS and actor.role != "admin" and owner != actor.user:
        whose = f"started by {owner}" if owner else "started before sign-in was on"
        raise AccessDenied(f"{actor.user} may {action} only their own runs; this one was "
                           f"{whose} (an admin can)")


def _refusal(actor: Actor, action: str) -> str | None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    needed = ACTIONS[action]
    if _rank(actor.role) < _rank(needed):
        return (f"{actor.user} is a {actor.role}; {action} needs the {needed} role or above "
                "(ask an admin to change the access file)")
    return None
