"""Injected label noise, where the truth is known: does the suspect finder find it, and
does retraining with its suggestions help?

The protocol (issue 13):
1. the UTKFace sample with its seeded split; in train and val only (test stays clean),
   flip with a fixed seed 5 % of gender labels, 5 % of race labels to another race and
   5 % of ages by 20 years or more;
2. train the default recipe on the clean labels and on the noisy labels (same images,
   same split: each run reads a CSV of the labels);
3. rank the noisy run (``modelkit.curation``: embeddings, K-fold out-of-sample
   predictions, cleanlab) and, per head, report precision and recall at k = the number
   injected among the train/val faces, against the naive ranking by the run's own loss
   on the same faces, in the same run of the benchmark;
4. accept the finder's top-k suggestions per head as decisions (a corrections file),
   retrain with them, and compare test metrics of the clean, noisy and corrected runs
   on the same test faces, with paired bootstrap intervals of the difference.

    .venv/bin/python bench/bench_label_noise.py --work /tmp/noise            # full: ~3 trainings
    .venv/bin/python bench/bench_label_noise.py --work /tmp/noise-tiny --limit 400 --epochs 1
    .venv/bin/python bench/bench_label_noise.py --work /tmp/noise --clean-run runs/ID   # 2 trainings

A stage whose run folder already holds a model is not trained again (resume a long
benchmark by rerunning the same command).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from modelkit import labels

HEADS = {"gender": "gender", "race": "race", "age": "age"}  # head -> ranked attribute


def noisy_copy(manifest: pd.DataFrame, *, fraction: float, seed: int):
    """The manifest with seeded flips in train/val, and the flipped paths per head."""
    rng = np.random.default_rng(seed)
    out = manifest.reset_index(drop=True).copy()
    pool = np.flatnonzero(out["split"].astype(str).isin(["train", "val"]).to_numpy())
    flipped = {}
    for head in ("gender", "race", "age"):
        known = pool[out.iloc[pool][head].notna().to_numpy()]
        rows = np.sort(rng.choice(known, int(round(fraction * len(known))), replace=False))
        flipped[head] = set(out.iloc[rows]["path"])
        if head == "gender":
            out.loc[rows, "gender"] = out.loc[rows, "gender"].map({"male": "female", "female": "male"})
        elif head == "race":
            classes = list(out["race"].cat.categories)
            for row in rows:
                others = [c for c in classes if c != out.at[row, "race"]]
                out.at[row, "race"] = others[rng.integers(len(others))]
        else:
            ages = out.loc[rows, "age"].to_numpy()
            shift = rng.integers(20, 41, len(rows))
            up = np.where(ages + shift <= labels.MAX_AGE, ages + shift, np.nan)
            down = np.where(ages - shift >= 0, ages - shift, np.nan)
            pick_up = rng.random(len(rows)) < 0.5
            new = np.where(pick_up, np.where(np.isnan(up), down, up), np.where(np.isnan(down), up, down))
            out.loc[rows, "age"] = new
    out["age_group"] = labels.age_to_group(out["age"])
    return out, flipped


def write_labels(manifest: pd.DataFrame, root: str, path: Path) -> Path:
    """The labels as a CSV the ``csv`` source reads (paths relative to ``root``)."""
    table = pd.DataFrame({"path": [os.path.relpath(p, root) for p in manifest["path"]],
                          "age": manifest["age"].astype(float),
                          **{c: manifest[c].astype(object) for c in ("gender", "race", "split")}})
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def train_stage(name: str, *, work: Path, root: str, labels_csv: Path, args, corrections=None) -> Path:
    from modelkit.config import TrainConfig
    from modelkit.training.fit import train

    run_dir = work / name
    if (run_dir / "model.keras").is_file():
        print(f"[{name}] already trained: {run_dir}", flush=True)
        return run_dir
    overrides = {k: v for k, v in (("epochs", args.epochs), ("image_size", args.image_size)) if v}
    config = TrainConfig(source="csv", root=root, labels=str(labels_csv), seed=args.seed,
                         corrections=str(corrections) if corrections else None, **overrides)
    start = time.perf_counter()
    train(config, run_dir=run_dir, verbose=2)
    print(f"[{name}] trained in {time.perf_counter() - start:.0f} s", flush=True)
    return run_dir


def own_loss(probs: dict, manifest: pd.DataFrame, head: str, *, sigma: float, race_classes) -> np.ndarray:
    """Per image, the run's own loss on its (noisy) label: cross-entropy of the head,
    the age head's against the Gaussian target of ``modelkit.objectives.DexAgeLoss``."""
    p = np.clip(probs[head], 1e-7, 1.0)
    if head == "age":
        years = np.arange(labels.MAX_AGE + 1)
        target = np.exp(-0.5 * ((years[None, :] - manifest["age"].to_numpy()[:, None]) / sigma) ** 2)
        return -(target / target.sum(axis=1, keepdims=True) * np.log(p)).sum(axis=1)
    vocabulary = labels.GENDERS if head == "gender" else race_classes
    codes = pd.Categorical(manifest[head].astype(object), categories=list(vocabulary)).codes
    return -np.log(p[np.arange(len(p)), np.maximum(codes, 0)])


def at_k(ranked_paths: list[str], flipped: set[str], k: int) -> tuple[float, float]:
    hits = len(set(ranked_paths[:k]) & flipped)
    return hits / max(k, 1), hits / max(len(flipped), 1)


def finder_table(result, manifest, flipped, config) -> tuple[list[dict], dict]:
    """Precision/recall at k for the finder and the naive ranking, per head, over the
    train/val faces; and the finder's top-k rows (its decisions)."""
    table, probs = result.table, result.embeddings.probs
    noisy_rows = manifest["split"].astype(str).isin(["train", "val"]).to_numpy()
    rows, decisions = [], {}
    for head, attribute in HEADS.items():
        k = len(flipped[head])
        ranked = table[(table["attribute"] == attribute) & table["split"].isin(["train", "val"])]
        finder = ranked.sort_values("score", kind="stable")
        loss = own_loss(probs, manifest, head, sigma=config.age_sigma, race_classes=result.meta["race_classes"])
        labelled = noisy_rows & manifest[head].notna().to_numpy()
        order = np.flatnonzero(labelled)[np.argsort(-loss[labelled], kind="stable")]
        naive = manifest["path"].to_numpy()[order].tolist()
        fp, fr = at_k(finder["path"].tolist(), flipped[head], k)
        npr, nr = at_k(naive, flipped[head], k)
        rows.append({"head": head, "injected": k, "finder_precision": fp, "finder_recall": fr,
                     "naive_precision": npr, "naive_recall": nr, "ratio": fp / npr if npr else float("inf"),
                     "flagged": int(ranked["is_issue"].sum()),
                     "flagged_precision": float(ranked.loc[ranked["is_issue"], "path"].isin(flipped[head]).mean())
                     if ranked["is_issue"].any() else float("nan")})
        decisions[head] = finder.head(k)
    return rows, decisions


def write_decisions(decisions: dict, *, root: str, race_classes, file: Path) -> Path:
    from modelkit.curation import corrections as cx

    file.unlink(missing_ok=True)
    for top in decisions.values():
        for row in top.itertuples():
            cx.record_decision(file, path=row.path, attribute=row.attribute, action="set",
                               value=row.suggested, given=row.given, note="benchmark: accept",
                               race_classes=race_classes, root=root)
    return file


def test_metrics(run_dirs: dict[str, Path], *, n_boot: int, seed: int) -> list[dict]:
    """Test figures of each run with percentile intervals, and the paired difference
    from the clean run (one resample of the shared test faces for all runs)."""
    from modelkit.evaluate.bootstrap import interval_quantiles, percentile_interval, resample_indices

    frames = {n: pd.read_parquet(d / "predictions.parquet") for n, d in run_dirs.items()}
    frames = {n: f[f["split"] == "test"].set_index("path").sort_index() for n, f in frames.items()}
    paths = frames["clean"].index
    for name, frame in frames.items():
        if not frame.index.equals(paths):
            raise ValueError(f"the {name} run's test faces differ from the clean run's")
    draws = resample_indices(len(paths), n_boot=n_boot, rng=np.random.default_rng(seed))
    q = interval_quantiles(0.95)
    per_image = {n: {"gender_accuracy": (f["gender_true"] == f["gender_pred"]).to_numpy(float),
                     "race_accuracy": (f["race_true"] == f["race_pred"]).to_numpy(float),
                     "age_mae": (f["age_true"] - f["age_pred"]).abs().to_numpy(float)}
                 for n, f in frames.items()}
    out = []
    for name, metrics in per_image.items():
        for metric, values in metrics.items():
            diff = values - per_image["clean"][metric]
            low, high = percentile_interval(values[draws].mean(axis=1), quantiles=q)
            dlow, dhigh = percentile_interval(diff[draws].mean(axis=1), quantiles=q)
            out.append({"run": name, "metric": metric, "value": values.mean(), "ci": [low, high],
                        "vs_clean": diff.mean(), "vs_clean_ci": [dlow, dhigh], "n": len(values)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/utkface_sample")
    parser.add_argument("--work", required=True, help="folder for the label CSVs and the runs")
    parser.add_argument("--limit", type=int, default=None, help="a seeded subset (a quick check)")
    parser.add_argument("--epochs", type=int, default=None, help="override the default recipe's")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--clean-run", default=None,
                        help="reuse this finished run of the default recipe on the clean labels "
                             "(same root and seed: the same test faces) instead of training one")
    args = parser.parse_args()

    from modelkit.config import TrainConfig
    from modelkit.curation import ranking
    from modelkit.data import load_dataset

    started = time.perf_counter()
    load = os.getloadavg()
    work = Path(args.work).resolve()
    dataset = load_dataset("utkface", root=args.root, limit=args.limit, seed=args.seed)
    root = dataset.root
    noisy, flipped = noisy_copy(dataset.manifest, fraction=args.fraction, seed=args.seed)
    clean_csv = write_labels(dataset.manifest, root, work / "labels-clean.csv")
    noisy_csv = write_labels(noisy, root, work / "labels-noisy.csv")
    print(f"{len(noisy):,} faces; flipped in train/val: "
          + ", ".join(f"{h} {len(p):,}" for h, p in flipped.items()), flush=True)

    if args.clean_run and not (work / "clean" / "model.keras").is_file():
        import shutil

        (work / "clean").mkdir(parents=True, exist_ok=True)
        for name in ("model.keras", "config.json", "predictions.parquet"):
            shutil.copy2(Path(args.clean_run) / name, work / "clean" / name)
    clean_run = train_stage("clean", work=work, root=root, labels_csv=clean_csv, args=args)
    noisy_run = train_stage("noisy", work=work, root=root, labels_csv=noisy_csv, args=args)
    start = time.perf_counter()
    result = ranking.rank_run(noisy_run, folds=args.folds, seed=args.seed)
    rank_s = time.perf_counter() - start
    config = TrainConfig.from_dict(ranking.run_config(noisy_run))
    manifest = ranking.run_dataset(noisy_run).manifest
    found, decisions = finder_table(result, manifest, flipped, config)
    file = write_decisions(decisions, root=root, race_classes=result.meta["race_classes"],
                           file=work / "accepted.jsonl")
    corrected_run = train_stage("corrected", work=work, root=root, labels_csv=noisy_csv, args=args,
                                corrections=file)
    metrics = test_metrics({"clean": clean_run, "noisy": noisy_run, "corrected": corrected_run},
                           n_boot=args.n_boot, seed=args.seed)
    report = {"faces": len(noisy), "flipped": {h: len(p) for h, p in flipped.items()},
              "finder": found, "rank_seconds": rank_s, "rank_meta": result.meta,
              "test": metrics, "load_before": load, "load_after": os.getloadavg(),
              "wall_s": time.perf_counter() - started}
    (work / "report.json").write_text(json.dumps(report, indent=1, default=float))
    print(format_report(report))


def format_report(report: dict) -> str:
    lines = ["| head | injected | finder P@k | finder R@k | naive P@k | naive R@k | ratio | "
             "flagged (precision) |", "|---|---|---|---|---|---|---|---|"]
    for r in report["finder"]:
        lines.append(f"| {r['head']} | {r['injected']} | {r['finder_precision']:.3f} | "
                     f"{r['finder_recall']:.3f} | {r['naive_precision']:.3f} | {r['naive_recall']:.3f} | "
                     f"{r['ratio']:.2f}x | {r['flagged']} ({r['flagged_precision']:.3f}) |")
    lines += ["", "| run | metric | value [95% CI] | vs clean [95% CI] |", "|---|---|---|---|"]
    for m in report["test"]:
        lines.append(f"| {m['run']} | {m['metric']} | {m['value']:.3f} [{m['ci'][0]:.3f}, "
                     f"{m['ci'][1]:.3f}] | {m['vs_clean']:+.3f} [{m['vs_clean_ci'][0]:+.3f}, "
                     f"{m['vs_clean_ci'][1]:+.3f}] |")
    lines.append(f"\nranking: {report['rank_seconds']:.0f} s; wall {report['wall_s'] / 60:.1f} min; "
                 f"load {report['load_before']} -> {report['load_after']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
