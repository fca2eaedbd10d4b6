"""The dashboard's one data-root rule, ``modelkit.paths.check_data_path``, as a table.

Every case runs in the same little tree under ``tmp_path``::

    data/            the one data root (FACESCOPE_DATA_ROOTS)
      faces/
      link_out  ->   ../outside          (a link inside the root, pointing out)
      loop      ->   loop                (a link to itself)
    data2/           a sibling whose name starts with the root's
    outside/
      link_in   ->   ../data/faces       (a link outside the root, pointing in)
    home/            $HOME
      data -> ../data

with the working directory at ``tmp_path``. ``expected`` is the accepted path
(relative to ``tmp_path``), or ``None`` when refused, then ``error`` is text the
message must hold.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelkit import paths

OUTSIDE = "is outside the folders the dashboard may read"

CASES = [
    # (id, typed, expected, error)
    ("inside", "{tmp}/data/faces", "data/faces", None),
    ("inside, not there yet", "{tmp}/data/new/faces", "data/new/faces", None),
    ("the root itself", "{tmp}/data", "data", None),
    ("the root with a trailing slash", "{tmp}/data/", "data", None),
    ("dot-dot escaping", "{tmp}/data/../outside", None, OUTSIDE),
    ("dot-dot escaping to /etc", "{tmp}/data/faces/../../../../../../../../etc", None, "(resolving to /etc)"),
    ("dot-dot staying inside", "{tmp}/data/faces/../faces", "data/faces", None),
    ("dot-dot into the root", "{tmp}/outside/../data/faces", "data/faces", None),
    ("a symlink out", "{tmp}/data/link_out", None, "resolving to {tmp}/outside"),
    ("below a symlink out", "{tmp}/data/link_out/x", None, OUTSIDE),
    ("a symlink in", "{tmp}/outside/link_in", "data/faces", None),
    ("~ into the root", "~/data/faces", "data/faces", None),
    ("~ alone (home is outside)", "~", None, "'~' (resolving to {tmp}/home)"),
    ("relative, inside", "data/faces", "data/faces", None),
    ("relative, dot", "./data", "data", None),
    ("relative, outside", "outside", None, OUTSIDE),
    ("relative, dot-dot out", "data/../outside", None, OUTSIDE),
    ("prefix sibling", "{tmp}/data2", None, "'{tmp}/data2' " + OUTSIDE),
    ("prefix sibling, below", "{tmp}/data2/faces", None, OUTSIDE),
    ("/etc", "/etc", None, "'/etc' " + OUTSIDE),
    ("empty", "", None, "'' is empty"),
    ("blank", "   ", None, "'   ' is empty"),
    ("a symlink loop", "{tmp}/data/loop", None, "is not a usable path"),
    ("a NUL byte", "{tmp}/data/a\0b", None, "is not a usable path"),
]


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    tmp = tmp_path.resolve()
    for folder in ("data/faces", "data2/faces", "outside", "home"):
        (tmp / folder).mkdir(parents=True)
    (tmp / "data" / "link_out").symlink_to(tmp / "outside")
    (tmp / "outside" / "link_in").symlink_to(tmp / "data" / "faces")
    (tmp / "home" / "data").symlink_to(tmp / "data")
    (tmp / "data" / "loop").symlink_to(tmp / "data" / "loop")
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp / "data"))
    monkeypatch.setenv("HOME", str(tmp / "home"))
    monkeypatch.chdir(tmp)
    return tmp


@pytest.mark.parametrize(("typed", "expected", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_data_root_rule(tree, typed, expected, error):
    typed = typed.format(tmp=tree)
    if expected is not None:
        assert paths.check_data_path(typed) == tree / expected
        assert paths.is_under_data_root(typed)
        return
    with pytest.raises(ValueError) as refused:
        paths.check_data_path(typed)
    message = str(refused.value)
    assert error.format(tmp=tree) in message
    if "usable" not in error:  # a path that cannot be resolved is refused as such
        assert "FACESCOPE_DATA_ROOTS" in message  # the fix
        assert str(tree / "data") in message  # the allowed roots
    assert not paths.is_under_data_root(typed)


def test_the_message_names_the_typed_path_and_every_root(tree, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", os.pathsep.join([str(tree / "data"), str(tree / "home")]))
    with pytest.raises(ValueError, match="'/etc' is outside") as refused:
        paths.check_data_path("/etc")
    assert f"{tree / 'data'}, {tree / 'home'}" in str(refused.value)
    assert paths.check_data_path("~") == tree / "home"  # a second root is a root too


def test_explicit_roots_are_expanded_and_resolved(tree):
    assert paths.check_data_path("data/faces", roots=["~/data"]) == tree / "data" / "faces"
    assert not paths.is_under_data_root("data/faces", roots=[tree / "outside"])


def test_no_roots_refuses_everything(tree):
    with pytest.raises(ValueError, match="none configured"):
        paths.check_data_path(str(tree / "data"), roots=[])
