"""Rank the labels most likely wrong, from out-of-sample predictions on embeddings.

A model's predictions on its own training images are overconfident: a ranking built
on them mostly finds hard faces, not wrong labels. So every labelled image (train,
val and test) gets an *out-of-sample* prediction: a small model on the run's
embeddings (``modelkit.curation.embed``), fitted K times with
``sklearn.model_selection.cross_val_predict``, each image predicted by the fit that
did not see it. ``cleanlab`` then scores each label (Northcutt et al., "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021):

- gender, race and age group: a standardised multinomial logistic regression,
  ``cleanlab.rank.get_label_quality_scores`` (self-confidence: the out-of-sample
  probability of the given label) and ``cleanlab.filter.find_label_issues``
  (confident learning, the ``is_issue`` flag);
- age in years: DEX on the embeddings (Rothe et al., ICCVW 2015), the same logistic
  regression over age bins (:data:`AGE_BIN_EDGES`) whose expected value is the
  predicted age (on 8,000 UTKFace embeddings with 5 % of ages moved by 20+ years it
  found 0.61 of them at k against 0.54 for a ridge regression, and its MAE on the clean
  ages was 6.7 years against 7.7); then
  ``cleanlab.regression.rank.get_label_quality_scores`` with the residual method, on
  ages in units of the median absolute residual (as cleanlab's ``CleanLearning``
  scales it), so the score is exp(-|residual| / median) and spreads over 0..1. (OUTRE,
  the default method, ranked the same flips no better and took 50 s there: its
  neighbour search holds N²/2 distances.) ``is_issue``: the residual is an outlier,
  more than ``AGE_ISSUE_SPREADS`` robust spreads (1.4826 × MAD) and at least
  ``AGE_ISSUE_MIN_YEARS`` years. ``confidence``: the out-of-sample probability of the
  suggested age's group (the bins' probabilities summed per group).

Age is ranked in years where the source gives years, by age group where it gives
only the group (FairFace), so each image has one age row.

The result is a tidy table, one row per (image, attribute), most suspicious first
within each attribute (:data:`SUSPECT_COLUMNS`, docs/CONTRACTS.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from modelkit import labels

HEAD_ATTRIBUTES = {"gender": ("gender",), "race": ("race",), "age": ("age", "age_group")}
SUSPECT_COLUMNS = ("rank", "path", "split", "attribute", "given", "suggested", "confidence",
                   "score", "is_issue", "gender", "race", "age_group", "age")
DEFAULT_FOLDS = 5
# Age bins of the out-of-sample age model: 5 years to 70 (each inside one age group), then
# 70-79, 80-89, 90+.
AGE_BIN_EDGES = (0, 3, 6, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 80, 90)
AGE_ISSUE_SPREADS = 3.0
AGE_ISSUE_MIN_YEARS = 10.0


def classifier(*, seed: int = 0):
    """The out-of-sample classifier: standardise, then multinomial logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300, random_state=seed))


def out_of_sample_probs(features: np.ndarray, codes: np.ndarray, *, n_classes: int,
                        folds: int = DEFAULT_FOLDS, seed: int = 0) -> np.ndarray:
    """(N, n_classes) probabilities, each row from the fold fit that did not see it.

    ``codes`` are 0..n_classes-1; a class absent from a fold's training part gets
    probability 0 there (scikit-learn's own handling)."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class rarer than the folds
        probs = cross_val_predict(classifier(seed=seed), features, codes, cv=cv,
                                  method="predict_proba")
    full = np.zeros((len(codes), n_classes))
    full[:, np.unique(codes)] = probs  # columns of the classes present, in order
    return full


def age_bins(ages: np.ndarray) -> np.ndarray:
    """Each age's bin of :data:`AGE_BIN_EDGES` (0-based)."""
    return np.searchsorted(np.asarray(AGE_BIN_EDGES), ages, side="right") - 1


def out_of_sample_ages(features: np.ndarray, ages: np.ndarray, *, folds: int = DEFAULT_FOLDS,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(predicted ages (N,), age-group probabilities (N, groups)), each image's from the
    fold fit that did not see it: DEX on the embeddings, a softmax over age bins whose
    expected value (bin medians of the given ages) is the prediction."""
    bins = age_bins(ages)
    probs = out_of_sample_probs(features, bins, n_classes=len(AGE_BIN_EDGES), folds=folds, seed=seed)
    centres = np.array([np.median(ages[bins == b]) if (bins == b).any() else 0.0
                        for b in range(len(AGE_BIN_EDGES))])
    group_of_bin = np.asarray(labels.age_to_group(np.asarray(AGE_BIN_EDGES, dtype=float)).codes)
    groups = np.zeros((len(ages), len(labels.AGE_GROUPS)))
    np.add.at(groups.T, group_of_bin, probs.T)
    return np.clip(probs @ centres, 0, labels.MAX_AGE), groups


def class_label_quality(codes: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, is_issue) per image with cleanlab: self-confidence scores and confident
    learning's issue mask, over the classes present in ``codes``."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    present = np.unique(codes)
    remap = np.full(probs.shape[1], -1)
    remap[present] = np.arange(len(present))
    sub = probs[:, present]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    given = remap[codes]
    if len(present) < 2:
        return np.ones(len(codes)), np.zeros(len(codes), dtype=bool)
    scores = get_label_quality_scores(labels=given, pred_probs=sub)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        issues = find_label_issues(labels=given, pred_probs=sub, n_jobs=1)
    return np.asarray(scores, dtype=float), np.asarray(issues, dtype=bool)


def age_label_quality(ages: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, is_issue) per image: cleanlab's regression scores and the residual
    outlier rule of the module docstring."""
    from cleanlab.regression.rank import get_label_quality_scores

    if len(ages) < 3:
        return np.ones(len(ages)), np.zeros(len(ages), dtype=bool)
    residual = ages - predicted
    scale = max(float(np.median(np.abs(residual))), 1e-6)
    scores = get_label_quality_scores(labels=ages / scale, predictions=predicted / scale,
                                      method="residual")
    spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    limit = max(AGE_ISSUE_SPREADS * spread, AGE_ISSUE_MIN_YEARS)
    return np.asarray(scores, dtype=float), np.abs(residual) > limit


def _codes(column: pd.Series, vocabulary) -> np.ndarray:
    return np.asarray(pd.Categorical(column.astype(object), categories=list(vocabulary)).codes)


def _class_rows(features, manifest, attribute, vocabulary, *, folds, seed, only=None):
    codes = _codes(manifest[attribute], vocabulary)
    if only is not None:
        codes = np.where(only, codes, -1)
    rows = np.flatnonzero(codes >= 0)
    # A class with fewer images than folds cannot be cross-validated: left unranked.
    counts = np.bincount(codes[rows], minlength=len(vocabulary))
    rows = rows[counts[codes[rows]] >= folds]
    if len(np.unique(codes[rows])) < 2:
        return None
    probs = out_of_sample_probs(features[rows], codes[rows], n_classes=len(vocabulary),
                                folds=folds, seed=seed)
    score, issue = class_label_quality(codes[rows], probs)
    best = probs.argmax(axis=1)
    names = np.asarray(list(vocabulary), dtype=object)
    return pd.DataFrame({"row": rows, "attribute": attribute, "given": names[codes[rows]],
                         "suggested": names[best], "confidence": probs.max(axis=1),
                         "score": score, "is_issue": issue})


def _age_rows(features, manifest, *, folds, seed):
    ages = manifest["age"].astype(float).to_numpy()
    rows = np.flatnonzero(~np.isnan(ages))
    if len(rows) < max(folds, 3):
        return None
    predicted, group_probs = out_of_sample_ages(features[rows], ages[rows], folds=folds, seed=seed)
    score, issue = age_label_quality(ages[rows], predicted)
    suggested = np.round(predicted).astype(int)
    suggested_group = np.asarray(labels.age_to_group(suggested).codes)
    confidence = group_probs[np.arange(len(rows)), suggested_group]
    return pd.DataFrame({"row": rows, "attribute": "age",
                         "given": [f"{a:g}" for a in ages[rows]],
                         "suggested": [str(a) for a in suggested], "confidence": confidence,
                         "score": score, "is_issue": issue})


def find_suspects(features: np.ndarray, manifest: pd.DataFrame, *, race_classes: list[str],
                  folds: int = DEFAULT_FOLDS, seed: int = 0) -> pd.DataFrame:
    """The ranked table of :data:`SUSPECT_COLUMNS` for every labelled image.

    Args:
        features: (N, D) embeddings, one per manifest row.
        manifest: the images and their given labels (all splits).
        race_classes: the race vocabulary.
        folds: K of the K-fold cross-validation (at least 2).
        seed: fold assignment and classifier seed.

    Raises:
        ValueError: features and manifest of different lengths, or folds < 2.
    """
    features = np.asarray(features, dtype="float32")
    if len(features) != len(manifest):
        raise ValueError(f"{len(features)} embeddings for {len(manifest)} images; embed the "
                         "same manifest that is ranked")
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    manifest = manifest.reset_index(drop=True)
    # The solvers make many small BLAS calls: one thread was 6x faster than two on this
    # shared 2-core machine (thread hand-offs cost more than the arithmetic).
    with threadpool_limits(limits=1, user_api="blas"):
        parts = _rank_attributes(features, manifest, race_classes=race_classes, folds=folds, seed=seed)
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame(columns=list(SUSPECT_COLUMNS))
    return tidy(pd.concat(parts, ignore_index=True), manifest)


def _rank_attributes(features, manifest, *, race_classes, folds, seed) -> list:
    group_only = manifest["age"].isna() & manifest["age_group"].notna()
    parts = [_class_rows(features, manifest, "gender", labels.GENDERS, folds=folds, seed=seed),
             _class_rows(features, manifest, "race", race_classes, folds=folds, seed=seed),
             _age_rows(features, manifest, folds=folds, seed=seed)]
    if group_only.any():
        parts.append(_class_rows(features, manifest, "age_group", labels.AGE_GROUPS, folds=folds,
                                 seed=seed, only=group_only.to_numpy()))
    return parts


def tidy(table: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Attach each row's image (path, split, its labels) and rank within attribute."""
    image = manifest.iloc[table["row"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame({
        "path": image["path"].astype(str).to_numpy(),
        "split": image["split"].astype(str).to_numpy(),
        "attribute": table["attribute"].to_numpy(),
        "given": table["given"].astype(str).to_numpy(),
        "suggested": table["suggested"].astype(str).to_numpy(),
        "confidence": table["confidence"].astype(float).to_numpy(),
        "score": table["score"].astype(float).to_numpy(),
        "is_issue": table["is_issue"].astype(bool).to_numpy(),
        **{a: image[a].astype(object).where(image[a].notna(), None).to_numpy()
           for a in ("gender", "race", "age_group")},
        "age": image["age"].astype(float).to_numpy(),
    })
    out = out.sort_values(["attribute", "score", "path"], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", out.groupby("attribute").cumcount() + 1)
    return out[list(SUSPECT_COLUMNS)]


def select(table: pd.DataFrame, *, head: str = "all", top: int | None = None,
           issues_only: bool = False) -> pd.DataFrame:
    """The rows of one head (``gender``, ``race``, ``age`` or ``all``), most suspicious
    first (``all``: by score across attributes), at most ``top`` of them."""
    if head != "all" and head not in HEAD_ATTRIBUTES:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEAD_ATTRIBUTES)}, all")
    rows = table if head == "all" else table[table["attribute"].isin(HEAD_ATTRIBUTES[head])]
    if issues_only:
        rows = rows[rows["is_issue"]]
    rows = rows.sort_values(["score", "attribute", "path"], kind="stable")
    return (rows if top is None else rows.head(top)).reset_index(drop=True)
