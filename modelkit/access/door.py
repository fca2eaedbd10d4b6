"""Whether a dashboard on a given address may serve, and to whom.

A server that only this machine can reach (127.0.0.1, ::1, localhost) may serve without
sign-in, as a personal tool. One that others can reach serves only behind sign-in, unless
its operator opts out on purpose for a trusted network with
``FACESCOPE_ALLOW_ANONYMOUS=1`` (then every visitor acts as the server's OS user, an
admin, and every page says so).
"""

from __future__ import annotations

import ipaddress
import os

ALLOW_ANONYMOUS_ENV = "FACESCOPE_ALLOW_ANONYMOUS"
MODES: tuple[str, ...] = ("local", "signin", "anonymous", "refused")


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only. An empty
    address means every interface (Streamlit's default), so it is not loopback."""
    address = (address or "").strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "", 0.0.0.0's kin and host names: assume others can reach it


def anonymous_allowed(environ=None) -> bool:
    """Whether ``$FACESCOPE_ALLOW_ANONYMOUS`` is set to 1 (or true/yes)."""
    value = (os.environ if environ is None else environ).get(ALLOW_ANONYMOUS_ENV, "")
    return value.strip().lower() in ("1", "true", "yes")


def server_mode(address: str | None, *, signin_configured: bool, environ=None) -> str:
    """How the dashboard serves: one of :data:`MODES`.

    - ``signin``: sign-in is configured: nobody sees anything before signing in;
    - ``local``: a loopback address and no sign-in: the local user, as a personal tool;
    - ``anonymous``: reachable by others, no sign-in, and the opt-out set: served, with
      a warning on every page and in the log;
    - ``refused``: reachable by others, no sign-in, no opt-out: nothing is served but
      how to set sign-in up.
    """
    if signin_configured:
        return "signin"
    if is_loopback(address):
        return "local"
    return "anonymous" if anonymous_allowed(environ) else "refused"
