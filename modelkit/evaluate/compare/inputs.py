"""What a comparison of runs starts from: which runs, whether each can be compared,
and their predictions aligned on the images they share.

A run is named by its id (a folder under the runs root) or by its folder. It can be
compared when it has finished and written predictions for the split; a run still
training, queued, cancelled or failed before its predictions is *not comparable*, with
the reason. Two runs are compared on the images both evaluated (matched by path): the
same source, limit, seed and split give the same images; when they share none,
:func:`no_overlap_reason` reads both config.json files to say why.

Example::

    base, other = resolve_run("2024-a"), resolve_run("runs/2024-b")
    comparability(other, split="test")            # None, or why not
    pair = align(load_split(base, "test"), load_split(other, "test"),
                 names=(base.id, other.id))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from modelkit import paths
from modelkit.config import TrainConfig
from modelkit.evaluate.predictions import (
    CLASS_HEADS,
    SOURCE_ATTRIBUTES,
    available_splits,
    class_labels,
    load_predictions,
    predictions_path,
    select_split,
)
from modelkit.runfolder import ACTIVE, CONFIG_FILE, LAUNCH_FILE, read_json, read_status

SOURCE_RACE = f"{SOURCE_ATTRIBUTES[0]}_true"  # the set's own race label, kept when folded
# The settings that decide which images land in a split.
DATA_SETTINGS = ("source", "root", "labels", "limit", "seed")


@dataclass(frozen=True)
class RunRef:
    """A run to compare: its id (the folder's name), folder and config.json, and for
    an evaluation set its own data settings (``data``: which faces it holds)."""

    id: str
    run_dir: Path
    config: dict = field(default_factory=dict, compare=False, hash=False)
    data: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def data_settings(self) -> dict:
        return self.data or self.config


@dataclass
class Aligned:
    """Two runs' rows of one split on the images both hold, in the same order, with
    the true labels both agree on (a label the two disagree on is unknown in both)."""

    baseline: pd.DataFrame
    other: pd.DataFrame
    n_baseline: int
    n_other: int
    notes: list[str] = field(default_factory=list)

    @property
    def n_shared(self) -> int:
        return len(self.baseline)


def resolve_run(value: str | os.PathLike, *, runs_root: str | os.PathLike | None = None) -> RunRef:
    """A run given as a folder, or as an id under the runs root (a run's, or an
    outside model's name under ``<runs root>/models/``).

    Raises:
        FileNotFoundError: neither a folder nor an id under the runs root.
    """
    from modelkit.outside.registry import models_root

    given = Path(value).expanduser()
    root = paths.runs_root(runs_root)
    candidates = [given, root / str(value), models_root(runs_root) / str(value)]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"no run {str(value)!r}: not a folder, and no {root / str(value)} "
                                f"or {candidates[2]}; `python -m modelkit runs list` and "
                                "`python -m modelkit models list` show the ids")
    folder = folder.resolve()
    return RunRef(id=folder.name, run_dir=folder, config=read_json(folder / CONFIG_FILE) or {})


def comparability(run: RunRef, *, split: str) -> str | None:
    """Why ``run`` cannot be compared on ``split`` (None when it can)."""
    status = read_status(run.run_dir) or {}
    state = status.get("state")
    if state in ACTIVE:
        return (f"still {state} (epoch {status.get('epoch', 0)}/{status.get('epochs', '?')}); "
                "compare it once it has finished")
    if not predictions_path(run.run_dir).is_file():
        if state is None and (run.run_dir / LAUNCH_FILE).is_file():
            return "queued: it has not started yet"
        if state == "failed":
            return f"failed before writing predictions ({status.get('error') or 'see its train.log'})"
        if state == "cancelled":
            return "cancelled before writing predictions; resume it to finish"
        return "no predictions.parquet (predictions are written when training finishes)"
    try:  # the split column only: the rows are read (and checked) once, by load_split
        splits = available_splits(pd.read_parquet(predictions_path(run.run_dir), columns=["split"]))
    except (OSError, ValueError, KeyError) as exc:
        return f"unreadable predictions: {exc}"
    if split not in splits:
        return f"no {split} predictions (splits present: {', '.join(splits) or 'none'})"
    return None


def load_split(run: RunRef, split: str) -> pd.DataFrame:
    """The run's checked rows of ``split`` (one per image path: duplicates dropped)."""
    rows, _ = select_split(load_predictions(run.run_dir), split)
    return rows.drop_duplicates("path").reset_index(drop=True)


def no_overlap_reason(baseline: RunRef, other: RunRef, *, split: str,
                      examples: tuple[str | None, str | None] = (None, None)) -> str:
    """A sentence on why two runs share no image of ``split``, from their config.json."""
    mine, theirs = baseline.data_settings, other.data_settings
    differs = {k: (mine.get(k), theirs.get(k)) for k in DATA_SETTINGS if mine.get(k) != theirs.get(k)}
    if not mine or not theirs:
        why = "a config.json is missing, so the cause is unknown"
    elif {"source", "root", "labels"} & set(differs):
        why = "they were trained on other data: " + _settings(differs, ("source", "root", "labels"))
    elif "limit" in differs:
        why = "other limit: " + _settings(differs, ("limit", "seed"))
    elif "seed" in differs:
        why = f"other seed ({_settings(differs, ('seed',))}): the seed draws the split"
    else:
        why = ("their data settings match, so the image paths must have changed (moved or "
               "re-scanned data?)")
    shown = [f"{name} has e.g. {path}" for name, path in zip((baseline.id, other.id), examples,
                                                            strict=True) if path]
    return (f"{baseline.id} and {other.id} share no {split} image: {why}"
            + (f" ({'; '.join(shown)})" if shown else "")
            + ". Train both with the same source, limit and seed to compare them.")


def _settings(differs: dict, names: tuple[str, ...]) -> str:
    return ", ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in differs.items() if k in names)


def align(baseline: pd.DataFrame, other: pd.DataFrame, *, names: tuple[str, str]) -> Aligned:
    """The two runs' rows on the images both hold (baseline order), true labels made
    to agree: where the runs' true labels of an attribute (or age) differ, it is
    unknown in both and a note says how many images that left out."""
    shared = baseline.loc[baseline["path"].isin(set(other["path"]))].reset_index(drop=True)
    matched = other.set_index("path").loc[shared["path"]].reset_index()
    notes = _share_race_fold(shared, matched, names)
    if len(shared) and (len(shared) < len(baseline) or len(shared) < len(other)):
        notes.append(f"compared on the {len(shared)} images both runs hold ({names[0]} has "
                     f"{len(baseline)}, {names[1]} has {len(other)})")
    for head in CLASS_HEADS:
        column = f"{head}_true"
        a, b = shared[column], matched[column]
        differ = (a.isna() != b.isna()) | (a.notna() & b.notna() & (a != b))
        if differ.any():
            shared.loc[differ, column] = None
            matched.loc[differ, column] = None
            notes.append(f"{int(differ.sum())} shared images have other true {head} labels in "
                         f"the two runs: left out of {head} figures and groups")
    a, b = shared["age_true"].to_numpy(float), matched["age_true"].to_numpy(float)
    differ = (np.isnan(a) != np.isnan(b)) | (~np.isnan(a) & ~np.isnan(b) & ~np.isclose(a, b))
    if differ.any():
        shared.loc[differ, "age_true"] = np.nan
        matched.loc[differ, "age_true"] = np.nan
        notes.append(f"{int(differ.sum())} shared images have other true ages: left out of age figures")
    return Aligned(shared, matched, n_baseline=len(baseline), n_other=len(other), notes=notes)


def _share_race_fold(baseline: pd.DataFrame, other: pd.DataFrame, names: tuple[str, str]) -> list[str]:
    """A model without a race head keeps a set's own race labels, while a model with
    one had them folded into its classes (``race_source_true`` holds the set's). When
    the set's labels agree, the headless one takes the other's fold (in place), so
    the race groups of both hold the same faces."""
    for folded, raw, who in ((baseline, other, names[1]), (other, baseline, names[0])):
        if SOURCE_RACE in folded.columns and SOURCE_RACE not in raw.columns \
                and raw["race_pred"].isna().all():
            own, theirs = folded[SOURCE_RACE], raw["race_true"]
            if ((own.isna() == theirs.isna()) & (own.isna() | (own == theirs))).all():
                raw[SOURCE_RACE] = theirs.to_numpy()
                raw["race_true"] = folded["race_true"].to_numpy()
                return [f"{who} has no race head: its race groups are the set's labels folded "
                        "as the other model's"]
    return []


def head_vocabularies(aligned: Aligned) -> dict[str, tuple[list[str], list[str]]]:
    """Each class head's classes in the baseline and in the other run."""
    return {h: (class_labels(aligned.baseline, h), class_labels(aligned.other, h)) for h in CLASS_HEADS}


def config_differences(baseline: RunRef, other: RunRef) -> dict[str, tuple]:
    """The train settings that differ (``TrainConfig.differences``), and the precision
    the runs actually trained in (``precision_used``) when that differs; for a config.json
    the current TrainConfig refuses, the raw values of its fields; {} without both."""
    if not baseline.config or not other.config:
        return {}
    try:
        found = TrainConfig.from_dict(baseline.config).differences(TrainConfig.from_dict(other.config))
    except (TypeError, ValueError):
        names = [f for f in TrainConfig.__dataclass_fields__]
        found = {k: (baseline.config.get(k), other.config.get(k)) for k in names
                 if baseline.config.get(k) != other.config.get(k)}
    # What --precision auto resolved to (the trainer records it): 'auto' -> 'auto' on two
    # machines can still be float32 against bfloat16.
    used = (baseline.config.get("precision_used"), other.config.get("precision_used"))
    if None not in used and used[0] != used[1]:
        found["precision_used"] = used
    return found
