"""What a report says, as one JSON object: the report's twin file, and what its HTML
page draws.

Every figure comes from the functions the commands call, with their defaults: an
evaluation is ``evaluate --json``'s object (:func:`evaluation_entry`), a comparison is
``compare OTHER RUN --json``'s (:func:`comparison_entry`), so a reader can check any
number against the command named beside it. The sections follow a model card
(Mitchell et al., "Model Cards for Model Reporting", FAT* 2019): model details, data,
disaggregated analyses per evaluation set, comparisons, label quality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from modelkit import labels
from modelkit.evaluate.predictions import GROUP_ATTRIBUTES
from modelkit.outside.card import is_outside_model, read_card
from modelkit.runfolder import CONFIG_FILE, read_json, read_status

# The settings of a FaceScope run a reader of its recipe needs, in reading order.
RECIPE_KEYS = ("backbone", "image_size", "weights", "epochs", "batch_size", "lr", "balance",
               "target", "max_repeat", "augment", "ema", "loss_weights", "age_sigma",
               "label_smoothing", "head_hidden", "dropout", "align", "corrections", "seed")
TRAINING_DATA_KEYS = ("source", "root", "labels", "limit", "n_train", "n_val", "n_test",
                      "race_classes", "age_is_range", "corrections_sha256")
# Groups listed in a vocabulary's order; race in the data's (most faces first), as
# its classes are the run's.
VOCABULARIES = {"gender": labels.GENDERS, "age_group": labels.AGE_GROUPS}
OWN_SPLIT = None  # an evaluation of the run's own split, not of an evaluation set


def model_details(run_dir: str | os.PathLike) -> dict:
    """The model section: a FaceScope run's backbone, heads, recipe, training data (with
    its hash), commit and date; an outside model's card.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run folder")
    if is_outside_model(folder):
        card = read_card(folder)
        return {"id": folder.name, "kind": "outside", "card": card.to_dict(),
                "heads": [h for h in labels.HEADS if h in {o.head for o in card.heads}]}
    config = read_json(folder / CONFIG_FILE) or {}
    status = read_status(folder) or {}
    provenance = config.get("provenance") or {}
    return {
        "id": folder.name, "kind": "facescope",
        "heads": config.get("heads") or list(labels.HEADS),
        "recipe": {k: config[k] for k in RECIPE_KEYS if k in config},
        "training_data": {k: config.get(k) for k in TRAINING_DATA_KEYS}
        | {"sha256": provenance.get("data_sha256")},
        "trained_with": {k: provenance.get(k) for k in ("facescope_version", "commit", "dirty", "time")},
        "status": {k: status.get(k) for k in ("state", "epoch", "epochs", "wall_seconds")},
    }


def training_balance(run_dir: str | os.PathLike) -> dict | None:
    """The train split's images per gender, race and age group before and after the
    balance plan, as the run recorded them (None for a run that did not, and for an
    outside model, whose training data FaceScope never saw)."""
    config = read_json(Path(run_dir) / CONFIG_FILE) or {}
    balance = config.get("train_balance")
    if not balance:
        return None
    return {"balance": config.get("balance"), "target": config.get("target"),
            "max_repeat": config.get("max_repeat"), **balance}


def composition(predictions) -> dict:
    """Faces per gender, race and age group of an evaluated split (its true labels),
    unlabelled faces under ``labels.NOT_LABELLED``."""
    out = {}
    for attribute in GROUP_ATTRIBUTES:
        true = predictions[f"{attribute}_true"]
        column = true.astype(object).where(true.notna(), labels.NOT_LABELLED)
        found = column.value_counts()
        order = [v for v in VOCABULARIES.get(attribute, ()) if v in found.index]
        found = found.reindex(order + [v for v in found.index if v not in order])
        out[attribute] = {str(k): int(v) for k, v in found.items()}
    return out


def evaluation_entry(run_dir: str | os.PathLike, *, on: str | None = OWN_SPLIT):
    """One evaluated set: ``evaluate --run-dir R [--on SET] --json``'s object (with the
    CLI's defaults), the set's composition, and the Evaluation (for the examples).

    Returns:
        (entry, evaluation): ``entry`` is JSON-ready; ``evaluation`` the object.
    """
    from modelkit.evaluate import evaluate_run
    from modelkit.prediction.evalsets import find_eval_set, summary

    folder, extra = Path(run_dir), {}
    if on is not None:
        folder = find_eval_set(run_dir, on)
        extra = {"on": on, "evaluation_set": summary(folder)}
    evaluation = evaluate_run(folder)
    command = f"python -m modelkit evaluate --run-dir {run_dir}" + (f" --on {on}" if on else "") + " --json"
    entry = {"name": on or f"{evaluation.split} split", "on": on, "command": command,
             "composition": composition(evaluation.predictions),
             "evaluation": {"run_dir": str(run_dir), **extra, **evaluation.to_json_dict()}}
    return entry, evaluation


def comparison_entry(run_dir: str | os.PathLike, other: str, *, on: str | None = OWN_SPLIT,
                     runs_root: str | os.PathLike | None = None) -> dict:
    """The run against ``other`` as the baseline on the faces both evaluated:
    ``compare OTHER RUN [--on SET] --json``'s object (changes = this run - other),
    or the reason they cannot be compared."""
    from modelkit.evaluate.compare.runs import compare

    runs, split = [other, str(run_dir)], "test"
    if on is not None:
        from modelkit.prediction.evalsets import EVAL_SPLIT, eval_set_ref

        runs = [eval_set_ref(r, on, runs_root=runs_root) for r in runs]
        split = EVAL_SPLIT
    command = f"python -m modelkit compare {other} {run_dir}" + (f" --on {on}" if on else "") + " --json"
    entry = {"baseline": other, "on": on, "command": command}
    try:
        result = compare(runs, split=split, runs_root=runs_root)
    except (ValueError, FileNotFoundError) as exc:
        return entry | {"comparison": None, "not_comparable": str(exc)}
    if not result.pairs:
        reasons = "; ".join(e["reason"] for e in result.not_comparable)
        return entry | {"comparison": None, "not_comparable": reasons or "no faces in common"}
    # As the command prints it: a setting that is not JSON (a path) as its text.
    printed = json.loads(json.dumps(result.to_json_dict(), allow_nan=False, default=str))
    return entry | {"comparison": printed, "not_comparable": None}


def label_quality(run_dir: str | os.PathLike, *, runs_root: str | os.PathLike | None = None
                  ) -> dict | None:
    """Suspect labels the run ranked (``labels rank``) and the decisions taken on its
    dataset's labels, or None when there are neither."""
    from modelkit.curation.corrections import config_corrections_path, latest_decisions, read_decisions
    from modelkit.curation.ranking import SUSPECTS_META

    folder = Path(run_dir)
    meta = read_json(folder / SUSPECTS_META)
    config = read_json(folder / CONFIG_FILE) or {}
    decisions: dict[str, dict[str, int]] = {}
    file = None
    if config.get("source"):
        file = Path(config.get("corrections") or config_corrections_path(config, runs_root=runs_root))
        if file.is_file():
            for decision in latest_decisions(read_decisions(file)).values():
                by_action = decisions.setdefault(decision.attribute, {})
                by_action[decision.action] = by_action.get(decision.action, 0) + 1
    if meta is None and not decisions:
        return None
    return {"suspects": None if meta is None else {
                "n_images": meta.get("n_images"), "issues": meta.get("issues"),
                "folds": meta.get("folds")},
            "decisions": decisions, "corrections_file": str(file) if decisions else None,
            "applied_in_training": config.get("corrections_applied")}
