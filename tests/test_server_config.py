"""The server's safe defaults, as shipped in .streamlit/config.toml."""

import tomllib
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from dashboard import signin
from modelkit import access, uploads
from modelkit.paths import is_under_data_root

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
APP = CONFIG.parents[1] / "app.py"


def server_config() -> dict:
    return tomllib.loads(CONFIG.read_text())["server"]


def test_binds_to_loopback_with_xsrf_protection_on():
    server = server_config()
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True


def test_upload_limit_matches_what_the_upload_check_accepts():
    # Streamlit's maxUploadSize is in MiB; the app's own check must not promise more.
    assert server_config()["maxUploadSize"] * 2**20 == uploads.MAX_BYTES


def test_paths_are_limited_to_the_data_roots_after_resolving_dot_dot(tmp_path, monkeypatch):
    allowed = tmp_path / "data"
    (allowed / "faces").mkdir(parents=True)
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(allowed))
    assert is_under_data_root(allowed / "faces")
    assert not is_under_data_root("/etc")
    assert not is_under_data_root(allowed / ".." / ".." / "etc")
    (allowed / "escape").symlink_to("/etc")
    assert not is_under_data_root(allowed / "escape")


# ----------------------------------------------------------------------------- the open door
@pytest.mark.parametrize("address, signin, opt_out, expected", [
    ("127.0.0.1", False, "", "local"),
    ("::1", False, "", "local"),
    ("localhost", False, "", "local"),
    ("0.0.0.0", False, "", "refused"),
    ("", False, "", "refused"),  # Streamlit's default: every interface
    ("192.168.1.20", False, "", "refused"),
    ("fileserver.lab", False, "", "refused"),
    ("0.0.0.0", False, "1", "anonymous"),
    ("0.0.0.0", True, "", "signin"),
    ("127.0.0.1", True, "", "signin"),  # configured sign-in holds on loopback too
])
def test_a_server_others_can_reach_serves_only_behind_sign_in(address, signin, opt_out, expected):
    env = {access.ALLOW_ANONYMOUS_ENV: opt_out}
    assert access.server_mode(address, signin_configured=signin, environ=env) == expected


@pytest.fixture
def listening_on(monkeypatch):
    """Run the app as if the server listened on an address (restored after)."""
    def listen(address: str):
        previous = st_config.get_option("server.address")
        st_config.set_option("server.address", address)
        monkeypatch.setattr(signin, "signin_configured", lambda: False)
        return previous
    saved = []
    yield lambda address: saved.append(listen(address))
    if saved:
        st_config.set_option("server.address", saved[0])


def test_the_app_on_an_open_address_without_sign_in_shows_only_how_to_set_it_up(
        listening_on, monkeypatch, runs_root):
    monkeypatch.delenv(access.ALLOW_ANONYMOUS_ENV, raising=False)
    listening_on("0.0.0.0")
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    assert [t.value for t in app.title] == ["FaceScope is not serving data here"]
    assert "Serve a team" in app.markdown[0].value
    assert not app.selectbox and not app.button  # no page ran: no pickers, no actions
    with pytest.raises(access.AccessDenied):
        signin.current_actor()  # a page opened on its own is refused as well


def test_the_opt_out_serves_with_a_warning_on_the_page(listening_on, monkeypatch, runs_root):
    monkeypatch.setenv(access.ALLOW_ANONYMOUS_ENV, "1")
    listening_on("0.0.0.0")
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not app.exception
    assert any("without sign-in" in w.value for w in app.warning)
    assert app.title and app.title[0].value != "FaceScope is not serving data here"
