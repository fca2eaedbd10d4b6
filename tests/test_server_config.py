"""The server's safe defaults, as shipped in .streamlit/config.toml."""

import tomllib
from pathlib import Path

from modelkit import uploads
from modelkit.paths import is_under_data_root

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


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
