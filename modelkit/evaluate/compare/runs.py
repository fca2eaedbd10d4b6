"""Did the change work? Compare runs on the same faces, group by group, with paired
bootstrap intervals of each difference.

The first run is the *baseline*; every other run is compared with it on the images
both evaluated (matched by path). For overall and for every group of every attribute
(gender, race, age group) and every figure ``evaluate`` reports (plus calibration's
ECE and Brier), the result gives both values, the difference (other - baseline), its
paired bootstrap interval (the same resampled images for both runs, within each
group: :mod:`modelkit.evaluate.compare.paired`) and whether the interval excludes 0. Each
gap (best - worst group of an attribute, groups of at least ``gap_min_n`` faces) is
compared the same way. Point values are :mod:`modelkit.evaluate.groups`' (those of
``evaluate``, on the shared images).

Runs that cannot be compared (still training, no predictions, no shared image) are
listed with the reason; heads or classes only one run has are left out, and said so.

Example::

    result = compare(["runs/base", "runs/balanced"], split="test", n_boot=1000)
    result.significant().head()            # changes whose 95% interval excludes 0
    result.gaps.query("grouping == 'race' and metric == 'race_accuracy'")
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelkit.evaluate import bootstrap, calibration
from modelkit.evaluate.compare import paired
from modelkit.evaluate.compare.inputs import (
    Aligned,
    RunRef,
    align,
    comparability,
    config_differences,
    head_vocabularies,
    load_split,
    no_overlap_reason,
    resolve_run,
)
from modelkit.evaluate.compare.result import (
    FIGURE_COLUMNS,
    GAP_COLUMNS,
    GAP_METRICS,
    LOWER_IS_BETTER,
    Comparison,
    PairInfo,
    empty_figures,
    empty_gaps,
)
from modelkit.evaluate.groups import compute_gaps
from modelkit.evaluate.metrics import LOWER_IS_BETTER as EVALUATE_LOWER_IS_BETTER
from modelkit.evaluate.predictions import AGE_HEAD, CLASS_HEADS

DEFAULT_N_BOOT = 1000
# Resamples are drawn in chunks of about this many weights, to bound memory.
CHUNK_WEIGHTS = 2_000_000


def compare(runs: Sequence[str | os.PathLike | RunRef], *, split: str = "test",
            n_boot: int = DEFAULT_N_BOOT, ci: float = 0.95, seed: int = 0, gap_min_n: int = 5,
            runs_root: str | os.PathLike | None = None) -> Comparison:
    """Compare ``runs[1:]`` with the baseline ``runs[0]`` on ``split``.

    Args:
        runs: run ids (under the runs root) or folders; two or more.
        n_boot: paired resamples per group (0: no intervals).
        seed: the resampling seed; each pair starts from it, so a pair's intervals do
            not depend on which other runs are compared.

    Raises:
        ValueError: fewer than two runs, a run given twice, a bad ``ci``/``n_boot``,
            the baseline not comparable, or no other run comparable (the message lists
            each with its reason, e.g. that two runs share no image and why).
        FileNotFoundError: a run that is neither a folder nor an id.
    """
    if len(runs) < 2:
        raise ValueError(f"compare needs two or more runs (a baseline, then the runs to compare "
                         f"with it); got {len(runs)}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be 0 or more, got {n_boot}")
    quantiles = bootstrap.interval_quantiles(ci)
    refs = [r if isinstance(r, RunRef) else resolve_run(r, runs_root=runs_root) for r in runs]
    twice = sorted({r.id for r in refs if [x.run_dir for x in refs].count(r.run_dir) > 1})
    if twice:
        raise ValueError(f"run(s) {', '.join(twice)} given twice; give each run once")
    baseline, others = refs[0], refs[1:]
    reason = comparability(baseline, split=split)
    if reason:
        raise ValueError(f"the baseline {baseline.id} cannot be compared: {reason}")
    base_rows = load_split(baseline, split)
    pairs, not_comparable, figures, gaps = [], [], [], []
    for other in others:
        reason = comparability(other, split=split)
        if reason is None:
            other_rows = load_split(other, split)
            aligned = align(base_rows, other_rows, names=(baseline.id, other.id))
            if aligned.n_shared == 0:
                reason = no_overlap_reason(baseline, other, split=split, examples=(
                    base_rows["path"].iloc[0] if len(base_rows) else None,
                    other_rows["path"].iloc[0] if len(other_rows) else None))
        if reason:
            not_comparable.append({"id": other.id, "run_dir": str(other.run_dir), "reason": reason})
            continue
        pair_figures, pair_gaps, left_out = compare_pair(
            aligned, names=(baseline.id, other.id), n_boot=n_boot, quantiles=quantiles,
            rng=np.random.default_rng(seed), gap_min_n=gap_min_n)
        figures.append(pair_figures.assign(run=other.id))
        gaps.append(pair_gaps.assign(run=other.id))
        pairs.append(PairInfo(id=other.id, run_dir=other.run_dir, n_baseline=aligned.n_baseline,
                              n_other=aligned.n_other, n_shared=aligned.n_shared,
                              config_differences=config_differences(baseline, other),
                              left_out=left_out, notes=aligned.notes))
    if not pairs:
        raise ValueError(f"nothing to compare with the baseline {baseline.id}: "
                         + "; ".join(f"{r['id']}: {r['reason']}" for r in not_comparable))
    return Comparison(
        split=split, baseline=baseline, n_baseline=len(base_rows), pairs=pairs,
        not_comparable=not_comparable,
        figures=pd.concat(figures, ignore_index=True)[FIGURE_COLUMNS] if figures else empty_figures(),
        gaps=pd.concat(gaps, ignore_index=True)[GAP_COLUMNS] if gaps else empty_gaps(),
        settings={"n_boot": n_boot, "ci": ci, "seed": seed, "gap_min_n": gap_min_n,
                  "n_bins": calibration.N_BINS, "paired": True},
    )


def compare_pair(aligned: Aligned, *, names: tuple[str, str], n_boot: int,
                 quantiles: tuple[float, float], rng: np.random.Generator,
                 gap_min_n: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Figures and gaps of one baseline/other pair on its aligned rows, and the notes
    on what was left out (heads one run lacks, classes only one run has).

    Point values are the resampling statistics at all-ones weights: the figures of
    :mod:`modelkit.evaluate.metrics` on these rows (tests/test_compare.py checks them
    against ``evaluate``), so a value and its interval never disagree on a definition.
    """
    vocab, dropped, recall_only, left_out = _scope(aligned, names)
    heads = [h for h in (*CLASS_HEADS, AGE_HEAD) if h not in dropped]
    calibrated = [h for h in calibration.CALIBRATED_HEADS if h not in dropped and h not in recall_only]
    features = [paired.run_features(f, {h: vocab[h][i] for h in CLASS_HEADS}, heads=heads,
                                    calibrated=calibrated)
                for i, f in enumerate((aligned.baseline, aligned.other))]
    metric_heads = {name: block.head for block in features[0].blocks for name in block.names()}
    kept = {name for name, head in metric_heads.items() if head not in recall_only
            or name in {f"{head}_recall_{c}" for c in recall_only[head]}}
    part_classes = {h: recall_only.get(h, vocab[h][0]) for h in CLASS_HEADS}
    rows, samples = [], {}
    for grouping, group_names, codes in calibration.partitions(aligned.baseline, part_classes):
        for code, group in enumerate(group_names):
            members = np.flatnonzero(codes == code)
            point = paired.group_statistics(np.ones((1, len(members))), members, features)
            counts = paired.group_counts(members, features)
            if n_boot > 0:
                samples[(grouping, group)] = _draw(members, features, n_boot=n_boot, rng=rng)
            for name in metric_heads:
                if name not in kept or name not in point[1]:
                    continue
                base, other = float(point[0][name][0]), float(point[1][name][0])
                if np.isnan(base) and np.isnan(other):
                    continue
                rows.append({"grouping": grouping, "group": group, "head": metric_heads[name],
                             "metric": name, "n": min(counts[0][name], counts[1].get(name, 0)),
                             "baseline": base, "other": other})
    figures = _figures(pd.DataFrame(rows), samples, quantiles=quantiles)
    return figures, _gaps(figures, samples, quantiles=quantiles, min_n=gap_min_n), left_out


def _scope(aligned: Aligned, names: tuple[str, str]) -> tuple[dict, set, dict, list[str]]:
    """What both runs have: each head's classes per run, the heads left out, the heads
    whose classes differ (-> the classes both have), and the notes saying so."""
    vocab = head_vocabularies(aligned)
    dropped, recall_only, left_out = set(), {}, []
    frames = (aligned.baseline, aligned.other)
    for head, (mine, theirs) in vocab.items():
        missing = [n for n, f in zip(names, frames, strict=True) if not f[f"{head}_pred"].notna().any()]
        if missing:
            dropped.add(head)
            left_out.append(f"{head}: {' and '.join(missing)} made no {head} predictions "
                            f"(no {head.split('_')[0]} head, or trained without {head} labels); {head} "
                            "figures left out")
        elif not aligned.baseline[f"{head}_true"].notna().any():
            dropped.add(head)
            left_out.append(f"{head}: no shared image has a {head} label; {head} figures left out")
        elif mine != theirs:
            recall_only[head] = [c for c in mine if c in theirs]
            only = [f"only {n} has {', '.join(c for c in a if c not in b)}" for n, a, b in
                    ((names[0], mine, theirs), (names[1], theirs, mine)) if set(a) - set(b)]
            left_out.append(f"{head}: the runs' classes differ ({'; '.join(only)}); compared: the "
                            f"recall of {', '.join(recall_only[head]) or 'no class'} and the groups "
                            f"of those classes; {head} accuracy, balanced accuracy, macro F1, ECE, "
                            "Brier and the other groups left out")
    missing = [n for n, f in zip(names, frames, strict=True) if not f["age_pred"].notna().any()]
    if missing:
        dropped.add(AGE_HEAD)
        left_out.append(f"age: {' and '.join(missing)} made no age predictions; age figures left out")
    return vocab, dropped, recall_only, left_out


def _draw(members: np.ndarray, features: list[paired.RunFeatures], *, n_boot: int,
          rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Each run's figure name -> ``(n_boot,)`` values on resamples of the rows
    ``members``, the same images drawn for both runs (in chunks, to bound memory)."""
    chunk = max(1, min(n_boot, CHUNK_WEIGHTS // max(len(members), 1)))
    stacked = paired.stack(members, features)
    parts = [paired.group_statistics(
        bootstrap.resample_weights(len(members), n_boot=min(chunk, n_boot - s), rng=rng),
        members, features, stacked=stacked) for s in range(0, n_boot, chunk)]
    return [{k: np.concatenate([p[i][k] for p in parts]) for k in parts[0][i]}
            for i in range(len(features))]


def _intervals(diffs: list[np.ndarray | None], quantiles: tuple[float, float]) -> np.ndarray:
    """``(len(diffs), 2)`` percentile intervals of resampled differences, in one
    vectorised pass; NaN where there is none."""
    width = max((len(d) for d in diffs if d is not None), default=0)
    if not width:
        return np.full((len(diffs), 2), np.nan)
    matrix = np.full((len(diffs), width), np.nan)
    for i, diff in enumerate(diffs):
        if diff is not None:
            matrix[i] = diff
    return bootstrap.percentile_interval(matrix, quantiles=quantiles, axis=1)


def _figures(merged: pd.DataFrame, samples: dict, *, quantiles: tuple[float, float]) -> pd.DataFrame:
    if merged.empty:
        return empty_figures()
    diffs = []
    for row in merged.itertuples():
        drawn = samples.get((row.grouping, row.group))
        usable = drawn is not None and row.n >= 2 and row.metric in drawn[0] and row.metric in drawn[1]
        diffs.append(drawn[1][row.metric] - drawn[0][row.metric] if usable else None)
    interval = _intervals(diffs, quantiles)
    out = merged.assign(
        difference=lambda t: t["other"] - t["baseline"], ci_low=interval[:, 0], ci_high=interval[:, 1],
        higher_is_better=lambda t: ~t["metric"].isin(LOWER_IS_BETTER), run="")
    out["excludes_zero"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    return out[FIGURE_COLUMNS]


def _gaps(figures: pd.DataFrame, samples: dict, *, quantiles: tuple[float, float],
          min_n: int) -> pd.DataFrame:
    """Best - worst group per attribute x gap figure, for each run, and the paired
    interval of the change in that gap; groups of at least ``min_n`` faces with a
    value in both runs take part."""
    eligible = figures[(figures["grouping"] != calibration.OVERALL) & figures["metric"].isin(GAP_METRICS)
                       & (figures["n"] >= min_n) & figures["baseline"].notna() & figures["other"].notna()]
    per_run = [compute_gaps(eligible.rename(columns={column: "value"}), min_n=min_n, metrics=GAP_METRICS)
               for column in ("baseline", "other")]
    by_key = {key: table for key, table in eligible.groupby(["grouping", "metric"], sort=False)}
    rows, diffs = [], []
    for base, other in zip(*(g.itertuples() for g in per_run), strict=True):
        groups = by_key[(base.grouping, base.metric)]
        drawn = [samples.get((base.grouping, g)) for g in groups["group"]]
        diff = None
        if drawn and all(d is not None for d in drawn):
            spread = [np.nanmax(s, axis=1) - np.nanmin(s, axis=1) for s in (
                np.stack([d[i][base.metric] for d in drawn], axis=1) for i in (0, 1))]
            diff = spread[1] - spread[0]
        diffs.append(diff)
        # compute_gaps calls the highest value best unless it knows the figure is an
        # error (age); calibration's ECE and Brier are errors too.
        flip = base.metric in LOWER_IS_BETTER and base.metric not in EVALUATE_LOWER_IS_BETTER
        names = [(t.worst_group, t.best_group) if flip else (t.best_group, t.worst_group)
                 for t in (base, other)]
        rows.append({"grouping": base.grouping, "metric": base.metric,
                     "head": groups["head"].iloc[0], "n_groups": int(base.n_groups),
                     "baseline_gap": base.difference, "baseline_best": names[0][0],
                     "baseline_worst": names[0][1], "other_gap": other.difference,
                     "other_best": names[1][0], "other_worst": names[1][1],
                     "difference": other.difference - base.difference})
    if not rows:
        return empty_gaps()
    interval = _intervals(diffs, quantiles)
    table = pd.DataFrame(rows).assign(ci_low=interval[:, 0], ci_high=interval[:, 1])
    table["excludes_zero"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    return table
