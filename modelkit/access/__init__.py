"""Who may do what on a shared FaceScope server, and the record of who did.

- :mod:`.roles`: the roles, the actions each allows, :class:`Actor`, :func:`check`;
- :mod:`.access_file`: the TOML file that maps e-mail addresses to roles and quotas;
- :mod:`.audit`: ``audit.jsonl`` under the runs root, one line per state-changing action;
- :mod:`.door`: whether a server on a given address may serve without sign-in.

The functions that change state (starting, cancelling, resuming and deleting runs and
jobs, adding outside models, deciding labels) take an ``actor`` and check it themselves,
so a page that forgot to hide a button still cannot act for a viewer.
"""

from modelkit.access.access_file import ACCESS_FILE_ENV, AccessList, load_access_list
from modelkit.access.audit import AUDIT_FILE, audited, read_audit
from modelkit.access.door import ALLOW_ANONYMOUS_ENV, server_mode
from modelkit.access.roles import (
    ACTIONS,
    ROLES,
    AccessDenied,
    Actor,
    QuotaExceeded,
    allowed,
    check,
    local_actor,
)

__all__ = ["ACCESS_FILE_ENV", "ACTIONS", "ALLOW_ANONYMOUS_ENV", "AUDIT_FILE", "ROLES",
           "AccessDenied", "AccessList", "Actor", "QuotaExceeded", "allowed", "audited",
           "check", "load_access_list", "local_actor", "read_audit", "server_mode"]
