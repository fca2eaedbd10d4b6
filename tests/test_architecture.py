"""The layering and the code's shape are part of the architecture, so they are tested.

- import-linter's contracts (pyproject.toml): pages -> dashboard -> modelkit, modelkit
  never imports Streamlit/Plotly, nothing imports ``modelkit.cli``, no cycles;
- ruff's lint rules (pyproject.toml) hold over the whole tree;
- no module in modelkit/, dashboard/ or pages/ is over 300 lines, pages are short;
- each vocabulary is defined once;
- no test module imports another: what tests share is in tests/helpers/ (or is a
  fixture of a conftest.py, used by name, never imported).
"""

from __future__ import annotations

import ast
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


# ----------------------------------------------------------------------------- the tests' imports
TESTS = REPO / "tests"
# Names a test module is importable by when its folder is on sys.path (pytest's
# rootdir-based import modes): test_*.py and conftest.py, in tests/ and tests/e2e/.
TEST_MODULE_NAMES = {p.stem for p in TESTS.rglob("*.py") if p.stem != "__init__"
                     and not {"helpers", "fake_trainer"} & set(p.relative_to(TESTS).parts)}


def _dotted(path: Path) -> list[str]:
    """``tests/e2e/test_browser.py`` -> ``["tests", "e2e", "test_browser"]``."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(tree: ast.AST, module: list[str], *, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an ``import`` or ``from ... import`` names;
    relative imports resolved against ``module``. ``from PACKAGE import NAME`` yields
    ``PACKAGE.NAME`` (NAME may be a module of it)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if is_package else module[:-1]
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _is_a_test_module(name: str) -> bool:
    """Whether ``name`` (possibly ``module.attribute``) is a test module or in one, not
    ``tests.helpers``: ``test_runs``, ``conftest``, ``tests.test_runs``,
    ``tests.e2e.conftest.settle``..."""
    parts = name.split(".")
    if parts[0] == "tests":
        return len(parts) > 1 and parts[1] != "helpers"
    return parts[0] in TEST_MODULE_NAMES


def _test_imports(source: str, path: Path) -> list[str]:
    module = _dotted(path)
    tree = ast.parse(source, filename=str(path))
    return [f"{path.relative_to(REPO)}:{line} imports {name}"
            for line, name in _imported(tree, module, is_package=path.stem == "__init__")
            if _is_a_test_module(name)]


@pytest.mark.parametrize(("source", "flagged"), [
    ("from test_runs import wait_for", True),
    ("import test_evaluate", True),
    ("from conftest import settle", True),
    ("from tests.test_runs import wait_for", True),
    ("from tests.e2e.conftest import serve_dashboard", True),
    ("from tests import test_runs", True),
    ("from . import test_runs", True),
    ("from .conftest import settle", True),
    ("from tests.helpers.waits import wait_for", False),
    ("from tests.helpers import waits", False),
    ("from tests import helpers", False),
    ("from modelkit import runs", False),
    ("import pytest", False),
])
def test_the_cross_test_import_check_sees_every_form(source, flagged):
    assert bool(_test_imports(source, TESTS / "test_example.py")) is flagged


def test_no_test_module_imports_another():
    """A test module imports shared code from tests.helpers, never from another test
    module (or a conftest.py): one test file's edit must not break another's import,
    and pytest must not collect a module's tests twice. tests/helpers/ and
    tests/fake_trainer/ are checked too: a helper that imported a test module would
    bring the coupling back."""
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} Python files under {TESTS}"
    offending = [hit for path in files for hit in _test_imports(path.read_text(), path)]
    assert not offending, ("move what these import into tests/helpers/ (or a conftest.py "
                           "fixture):\n" + "\n".join(offending))
