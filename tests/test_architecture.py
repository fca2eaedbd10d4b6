"""The layering and the code's shape are part of the architecture, so they are tested.

- import-linter's contracts (pyproject.toml): pages -> dashboard -> modelkit, modelkit
  never imports Streamlit/Plotly, nothing imports ``modelkit.cli``, no cycles;
- ruff's lint rules (pyproject.toml) hold over the whole tree;
- no module in modelkit/, dashboard/ or pages/ is over 300 lines, pages are short;
- each vocabulary is defined once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MAX_MODULE_LINES = 300  # the guide's 100-300 lines, one concept each
MAX_PAGE_LINES = 80


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_finds_nothing():
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _modules(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]


def test_no_module_is_over_the_size_cap():
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text().splitlines())
             for p in _modules("modelkit", "dashboard", "pages")}
    too_big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"split these modules (over {MAX_MODULE_LINES} lines): {too_big}"


def test_pages_are_short_scripts():
    sizes = {p.name: len(p.read_text().splitlines()) for p in _modules("pages")}
    assert sizes, "no page found under pages/"
    too_long = {name: n for name, n in sizes.items() if n > MAX_PAGE_LINES}
    assert not too_long, f"move widget groups into dashboard/*_ui() helpers: {too_long}"


# A definition is an assignment at the start of a line: NAME = ... / NAME: type = ...
VOCABULARIES = ("SOURCES", "BACKBONES", "BALANCE_MODES", "SALIENCY_METHODS", "METHODS",
                "HEADS", "MAX_AGE", "HEAD_TITLES", "ATTRIBUTE_TITLES", "METHOD_TITLES",
                "RUN_COLORS", "PREDICTIONS_FILE", "AGE_GROUPS", "GENDERS")


@pytest.mark.parametrize("name", VOCABULARIES)
def test_each_vocabulary_is_defined_once(name):
    pattern = re.compile(rf"^\s*{name}\s*(:[^=]+)?=", re.MULTILINE)
    places = [p.relative_to(REPO).as_posix() for p in _modules("modelkit", "dashboard", "pages")
              if pattern.search(p.read_text())]
    assert len(places) <= 1, f"{name} is defined in {places}; keep one and import it"
