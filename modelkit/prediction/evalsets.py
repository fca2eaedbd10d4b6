"""Evaluation sets: a run's predictions on other datasets, kept beside the run.

``<run>/eval/<NAME>/`` holds ``predictions.parquet`` (the run's own predictions
contract, every row in split ``test``) and ``eval.json`` (what was predicted on, the
label mapping used; shapes in docs/CONTRACTS.md, "Evaluation sets"). Because the folder
holds a predictions table like a run folder, every reader of a run's predictions
(``modelkit.evaluate.evaluate_run``, the dashboard's loaders) reads it as is.
No TensorFlow here.

Example::

    [s.name for s in list_eval_sets("runs/abc")]    # ["fairface", "utkface-aligned"]
    evaluate_run(eval_dir("runs/abc", "fairface"))
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from modelkit.evaluate.predictions import PREDICTIONS_FILE

EVAL_DIR = "eval"
EVAL_FILE = "eval.json"
# Every row of an evaluation set is evaluated: it is the set's one split.
EVAL_SPLIT = "test"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set of a run: its name, folder and ``eval.json`` ({} if unreadable)."""

    name: str
    path: Path
    info: dict

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent


def check_name(name: str) -> str:
    """An evaluation set's name is a folder name: letters, digits, ``.``, ``_``, ``-``.

    Raises:
        ValueError: naming the value and what is allowed.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"evaluation set name {name!r} is not allowed; use 1-64 letters, "
                         "digits, '.', '_' or '-', starting with a letter or digit "
                         "(e.g. fairface or fairface-aligned)")
    return name


def default_name(source: str, *, align: bool = False) -> str:
    """The name a prediction gets when none is given: the source (``-aligned`` added)."""
    return f"{source}-aligned" if align else source


def eval_dir(run_dir: str | os.PathLike, name: str) -> Path:
    """``<run_dir>/eval/<name>`` (the name checked)."""
    return Path(run_dir) / EVAL_DIR / check_name(name)


def read_eval_info(path: str | os.PathLike) -> dict:
    """An evaluation set folder's ``eval.json``; {} when absent or unreadable."""
    try:
        value = json.loads((Path(path) / EVAL_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def list_eval_sets(run_dir: str | os.PathLike) -> list[EvalSet]:
    """The run's evaluation sets that hold predictions, by name."""
    folder = Path(run_dir) / EVAL_DIR
    if not folder.is_dir():
        return []
    return [EvalSet(p.name, p, read_eval_info(p)) for p in sorted(folder.iterdir())
            if NAME_PATTERN.match(p.name) and (p / PREDICTIONS_FILE).is_file()]


def find_eval_set(run_dir: str | os.PathLike, name: str) -> Path:
    """The folder of evaluation set ``name`` of a run.

    Raises:
        FileNotFoundError: the run or the set does not exist (the message lists the
            run's sets and how to make one).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder {run} does not exist; pass --run-dir a run folder")
    path = eval_dir(run, name)
    if not (path / PREDICTIONS_FILE).is_file():
        have = [s.name for s in list_eval_sets(run)]
        raise FileNotFoundError(
            f"run {run.name} has no evaluation set {name!r} (sets: {', '.join(have) or 'none'}); "
            f"make it with `python -m modelkit predict --run-dir {run} --source ... --root ... "
            f"--name {name}`")
    return path


def eval_set_ref(run: str | os.PathLike, name: str, *,
                 runs_root: str | os.PathLike | None = None):
    """The evaluation set ``name`` of a run (an id or a folder, as ``compare`` takes
    them) as a run to compare: the run's id and training settings, the set's folder,
    and the set's own data settings (so two sets drawn otherwise say why they share
    no face).

    Raises:
        FileNotFoundError: no such run, or the run has no such set (how to make one).
    """
    from modelkit.evaluate.compare.inputs import DATA_SETTINGS, RunRef, resolve_run

    ref = resolve_run(run, runs_root=runs_root)
    folder = find_eval_set(ref.run_dir, name).resolve()
    info = read_eval_info(folder)
    return RunRef(id=ref.id, run_dir=folder, config=ref.config,
                  data={k: info[k] for k in DATA_SETTINGS if k in info})


def is_eval_set(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an evaluation set folder (``<run>/eval/<name>``)."""
    path = Path(path)
    return path.parent.name == EVAL_DIR and (path / EVAL_FILE).is_file()


def owning_run(path: str | os.PathLike) -> Path:
    """The run folder an evaluation set belongs to; a run folder is its own."""
    path = Path(path)
    return path.parent.parent if is_eval_set(path) else path


def display_name(path: str | os.PathLike) -> str:
    """``<run id> on <set>`` for an evaluation set folder, the run id for a run folder."""
    path = Path(path)
    return f"{path.parent.parent.name} on {path.name}" if is_eval_set(path) else path.name


def summary(path: str | os.PathLike) -> dict:
    """``eval.json`` without the list of skipped images (their count stays): what
    ``evaluate --on NAME --json`` reports about the set."""
    return {k: v for k, v in read_eval_info(path).items() if k != "skipped"}


def describe(path: str | os.PathLike) -> str:
    """One line: the set's name, source, size and how its race labels were compared."""
    info = read_eval_info(path)
    mapping = info.get("race_mapping") or {}
    no_race = "race" not in info.get("trained_heads", ["race"])
    race = "a model without a race head" if no_race else {
        "none": "no race labels", "identity": "race classes as the model's"}.get(
        mapping.get("kind"), f"race {mapping.get('from')} -> {mapping.get('to')} "
                            f"(folded {mapping.get('kind')})")
    return (f"{Path(path).name} ({info.get('source')} at {info.get('root')}, "
            f"{info.get('n_images')} images, {info.get('n_skipped')} skipped; {race})")
