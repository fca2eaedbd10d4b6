"""The access file: which signed-in people may do what (TOML, path in
``$FACESCOPE_ACCESS_FILE``)::

    queue_quota = 3                 # unfinished runs each user may have (default 3)

    [users]                         # an address, or *@domain for everyone there
    "alice@lab.example" = "admin"
    "bob@lab.example" = "trainer"
    "*@lab.example" = "viewer"

    [quotas]                        # optional, per address
    "bob@lab.example" = 6

An exact address wins over its domain's pattern; addresses compare without case. A
signed-in person the file does not name is not let in. The file is read when a person
signs in, so an edit takes effect at their next sign-in (or page load).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from modelkit.access.roles import ROLES, Actor

ACCESS_FILE_ENV = "FACESCOPE_ACCESS_FILE"
DEFAULT_QUEUE_QUOTA = 3
_KEYS = {"queue_quota", "users", "quotas"}


@dataclass(frozen=True)
class AccessList:
    """The parsed access file: address or ``*@domain`` -> role, and the quotas."""

    users: dict[str, str] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=dict)
    queue_quota: int = DEFAULT_QUEUE_QUOTA
    source: str = ""

    def actor(self, email: str | None) -> Actor | None:
        """The signed-in ``email`` as an :class:`Actor`, or None when the file does not
        name them (by address or domain)."""
        if not email or "@" not in email:
            return None
        address = email.strip().lower()
        role = self.users.get(address) or self.users.get("*@" + address.rsplit("@", 1)[1])
        if role is None:
            return None
        return Actor(user=address, role=role, queue_quota=self.quotas.get(address, self.queue_quota))


def _quota(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: a quota is a whole number of runs, 0 or more; got {value!r}")
    return value


def _pattern(key: str, where: str) -> str:
    key = key.strip().lower()
    local, at, domain = key.partition("@")
    if not at or not domain or "@" in domain or "*" in domain or (("*" in local) and local != "*"):
        raise ValueError(f"{where}: {key!r} is neither an e-mail address nor *@domain")
    return key


def parse_access_list(text: str, *, source: str = "access file") -> AccessList:
    """An :class:`AccessList` from the file's TOML text.

    Raises:
        ValueError: not TOML, an unknown key, a role outside :data:`ROLES`, a key that
            is neither an address nor ``*@domain``, or a negative quota; the message
            names the file and the entry.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc})") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"expected {', '.join(sorted(_KEYS))}")
    users = {}
    for key, role in (data.get("users") or {}).items():
        if role not in ROLES:
            raise ValueError(f"{source}: [users] {key!r} = {role!r}: a role is one of "
                             f"{', '.join(ROLES)}")
        users[_pattern(key, f"{source}: [users]")] = role
    quotas = {_pattern(k, f"{source}: [quotas]"): _quota(v, f"{source}: [quotas] {k!r}")
              for k, v in (data.get("quotas") or {}).items()}
    default = _quota(data.get("queue_quota", DEFAULT_QUEUE_QUOTA), f"{source}: queue_quota")
    return AccessList(users=users, quotas=quotas, queue_quota=default, source=source)


def access_file_path(environ=None) -> Path | None:
    """The access file named by ``$FACESCOPE_ACCESS_FILE``, or None when unset."""
    value = (os.environ if environ is None else environ).get(ACCESS_FILE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def load_access_list(path: str | os.PathLike | None = None) -> AccessList | None:
    """The access file at ``path`` (default ``$FACESCOPE_ACCESS_FILE``); None when no
    file is configured.

    Raises:
        FileNotFoundError: a configured file that does not exist.
        ValueError: a file that does not parse (see :func:`parse_access_list`).
    """
    path = Path(path) if path is not None else access_file_path()
    if path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no access file there (${ACCESS_FILE_ENV} names it)")
    return parse_access_list(path.read_text(encoding="utf-8"), source=str(path))
