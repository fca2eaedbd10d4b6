"""Who is using the dashboard: the sign-in gate every page passes, and the actor the
pages hand to the functions that act.

:func:`gate` runs first in every script run (``app.route``). How it serves depends on
:func:`modelkit.access.server_mode`:

- ``signin`` (``[auth]`` in ``.streamlit/secrets.toml``): nothing but a sign-in screen
  until the visitor has signed in with Streamlit's ``st.login``; then the access file
  (``$FACESCOPE_ACCESS_FILE``) gives their role, and a person it does not name gets
  "not allowed" and nothing else;
- ``local`` (a loopback address, no ``[auth]``): the OS user, as a personal tool;
- ``anonymous`` (others can reach it, ``FACESCOPE_ALLOW_ANONYMOUS=1``): the OS user, with
  a warning on every page;
- ``refused`` (others can reach it, no ``[auth]``, no opt-out): only how to set sign-in up.

The pages never decide who may act: they pass :func:`current_actor` to modelkit, which
checks it. They only hide what the role cannot do (:func:`can`).
"""

from __future__ import annotations

import logging

import streamlit as st

from modelkit import access

ACTOR_KEY = "signin_actor"
SETUP_HELP = (
    "Add an `[auth]` section to `.streamlit/secrets.toml` (an OpenID Connect provider: "
    "`redirect_uri`, `cookie_secret`, `client_id`, `client_secret`, `server_metadata_url`) "
    f"and name who may do what in the access file (`${access.ACCESS_FILE_ENV}`). The README's "
    "section *Serve a team* shows both. To serve a trusted network without sign-in anyway, "
    f"start the server with `{access.ALLOW_ANONYMOUS_ENV}=1`: then everyone who reaches the "
    "port can start and delete runs and see every face.")
_log = logging.getLogger("facescope.signin")


def signin_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section."""
    try:
        return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)
    except Exception as exc:  # a secrets file that does not parse: fail closed, say why
        _log.error("could not read .streamlit/secrets.toml: %s", exc)
        return True


def mode() -> str:
    """This server's mode (:func:`modelkit.access.server_mode`)."""
    return access.server_mode(st.get_option("server.address"),
                              signin_configured=signin_configured())


def log_mode_at_start() -> None:
    """Say in the server's log how it serves (the startup hook calls this once)."""
    now = mode()
    if now == "anonymous":
        _log.warning("serving WITHOUT sign-in on %s (%s=1): anyone who reaches the port "
                     "acts as %s", st.get_option("server.address") or "every interface",
                     access.ALLOW_ANONYMOUS_ENV, access.local_actor().user)
    elif now == "refused":
        _log.error("not serving data: the server listens on %s, which others can reach, and "
                   "sign-in is not configured. %s", st.get_option("server.address") or
                   "every interface", SETUP_HELP)


def gate() -> access.Actor | None:
    """Decide who this visitor is; draw the sign-in, refusal or warning screen.

    Returns the actor, or None when the page must show nothing else (the caller stops).
    """
    now = mode()
    if now == "refused":
        st.title("FaceScope is not serving data here")
        st.error("This server can be reached from other machines, and sign-in is not set "
                 "up, so it shows no runs, datasets or faces.")
        st.markdown(SETUP_HELP)
        return None
    if now in ("local", "anonymous"):
        if now == "anonymous":
            st.warning("This server runs without sign-in on a shared network "
                       f"({access.ALLOW_ANONYMOUS_ENV}=1): everyone who can reach it can "
                       "start and delete runs and see every face.", icon=":material/warning:")
        actor = access.local_actor()
    else:
        actor = _signed_in_actor()
    if actor is not None:
        st.session_state[ACTOR_KEY] = actor
    return actor


def _signed_in_actor() -> access.Actor | None:
    st.session_state.pop(ACTOR_KEY, None)  # decided afresh on every run: a role can change
    if not st.user.is_logged_in:
        st.title("FaceScope")
        st.info("Sign in to see the runs, datasets and faces on this server.")
        st.button("Sign in", type="primary", key="signin_login", on_click=st.login)
        return None
    email = st.user.get("email")
    try:
        people = access.load_access_list()
    except (OSError, ValueError) as exc:
        st.error(f"The access file cannot be read, so nobody is let in: {exc}")
        return None
    actor = None if people is None else people.actor(email)
    if actor is None:
        st.title("Not allowed")
        st.error(f"{email or 'This account'} is not allowed on this FaceScope server. Ask "
                 "its admin to add you to the access file.")
        st.button("Sign out", key="signin_logout", on_click=st.logout)
        return None
    with st.sidebar:
        st.caption(f"Signed in as **{actor.user}** · {actor.role}")
        st.button("Sign out", key="signin_logout", on_click=st.logout)
    return actor


def current_actor() -> access.Actor:
    """The actor of this session, as :func:`gate` decided it.

    A page run without the gate (a page opened on its own, as the page tests do) is the
    OS user only where the gate would have made it so; elsewhere it is refused.

    Raises:
        modelkit.access.AccessDenied: nobody signed in on a server that needs it.
    """
    actor = st.session_state.get(ACTOR_KEY)
    if actor is not None:
        return actor
    if mode() in ("local", "anonymous"):
        return access.local_actor()
    raise access.AccessDenied("nobody is signed in on this session")


def can(action: str) -> bool:
    """Whether this session's actor may do ``action`` at all (which buttons to show)."""
    try:
        return access.allowed(current_actor(), action)
    except access.AccessDenied:
        return False


def role_note(action: str) -> None:
    """A caption where a button is hidden: which role the action needs."""
    try:
        who = current_actor()
    except access.AccessDenied:
        return
    st.caption(f"Your role ({who.role}) cannot do this; {action} needs "
               f"{access.ACTIONS[action]} or above.")
