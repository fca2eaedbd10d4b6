"""``python -m modelkit data summary``: a dataset's balance, and what one training
epoch of its train split holds under the balance plan.

The plan is the one ``train`` uses (``modelkit.balance.training_plan`` over the train
split), and every flag defaults to ``TrainConfig``'s value, so with the same flags the
summary's epoch is exactly the epoch ``train`` runs; the Dataset page shows the same.

    python -m modelkit data summary --source utkface --root ../shared/data/utkface_sample --balance age_group
"""

from __future__ import annotations

import argparse
import json

from modelkit import config as cfg
from modelkit import labels
from modelkit.cli.progress import ProgressBar

D = cfg.DEFAULTS


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset flags: which images, read as ``train`` reads them."""
    parser.add_argument("--source", choices=cfg.SOURCES, default=D.source,
                        help=f"dataset kind (default {D.source})")
    parser.add_argument("--root", help="dataset folder (not needed for synthetic)")
    parser.add_argument("--labels", help="label file (csv source; FairFace/IMDB-WIKI find theirs in --root)")
    parser.add_argument("--limit", type=int, help="use a seeded random subset of N images")
    parser.add_argument("--seed", type=int, default=D.seed,
                        help=f"seeds the subset, the split and the plan (default {D.seed})")


def add_balance_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan flags, as ``train`` takes them (checked by ``TrainConfig``)."""
    parser.add_argument("--balance", choices=cfg.BALANCE_MODES, default=D.balance,
                        help="attribute to rebalance by oversampling the train split "
                             f"(joint = age group × gender × race cells; default {D.balance})")
    parser.add_argument("--target", default=D.target,
                        help=f"count each value is raised towards: max, median or a number (default {D.target})")
    parser.add_argument("--max-repeat", type=int, default=D.max_repeat,
                        help=f"most times one image may be used per epoch (default {D.max_repeat})")


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    summary = data_sub.add_parser("summary", help="counts per age group, gender and race, and one "
                                  "training epoch of the train split under the balance plan")
    add_source_arguments(summary)
    add_balance_arguments(summary)
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.set_defaults(func=run_summary)


def config_from_args(args: argparse.Namespace) -> cfg.TrainConfig:
    """The ``TrainConfig`` whose epoch the summary shows; raises ValueError (one line
    naming the flag's field) for a bad target or max repeat."""
    return cfg.TrainConfig(source=args.source, root=args.root, labels=args.labels, limit=args.limit,
                           seed=args.seed, balance=args.balance, target=args.target,
                           max_repeat=args.max_repeat)


def summarize(dataset, *, config: cfg.TrainConfig) -> dict:
    """The summary object ``--json`` prints (counts keyed by label, in label order).

    ``counts`` covers the whole dataset (all splits); ``plan`` the train split as it
    is (``counts``) and one training epoch of it (``epoch_counts``,
    ``images_per_epoch``) under ``config``'s plan.
    """
    from modelkit.balance import TRAIN_SPLIT, epoch_counts, split_part, training_plan
    from modelkit.data.manifest import counts

    manifest = dataset.manifest
    train = split_part(manifest, TRAIN_SPLIT)
    plan = training_plan(manifest, balance=config.balance, target=config.target,
                         max_repeat=config.max_repeat, seed=config.seed)
    epoch = {a: _as_dict(epoch_counts(train, plan, a)) for a in labels.ATTRIBUTES}
    return {
        "n_images": int(len(manifest)),
        "skipped": [s.to_dict() for s in dataset.skipped],
        "splits": {s: int((manifest["split"].astype(object) == s).sum()) for s in labels.SPLITS},
        "counts": {a: _as_dict(counts(manifest, a)) for a in labels.ATTRIBUTES},
        "plan": {
            "split": TRAIN_SPLIT, "balance": config.balance, "target": config.target,
            "max_repeat": config.max_repeat, "seed": config.seed,
            "n_images": int(len(train)), "images_per_epoch": sum(epoch[labels.ATTRIBUTES[0]].values()),
            "counts": {a: _as_dict(counts(train, a)) for a in labels.ATTRIBUTES},
            "epoch_counts": epoch,
        },
    }


def _as_dict(series) -> dict:
    return {str(k): int(v) for k, v in series.items()}


def run_summary(args: argparse.Namespace) -> int:
    from modelkit.data import load_dataset

    config = config_from_args(args)
    dataset = load_dataset(config.source, root=config.root, labels=config.labels,
                           limit=config.limit, seed=config.seed,
                           progress=ProgressBar("checking images (first read only)"))
    summary = summarize(dataset, config=config)
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0


def format_summary(summary: dict) -> str:
    """A readable table: per attribute the whole dataset, the train split, and one
    training epoch of it under the plan."""
    plan, splits = summary["plan"], summary["splits"]
    how = ("no rebalancing" if plan["balance"] == "none" else
           f"balance {plan['balance']}, target {plan['target']}, max repeat {plan['max_repeat']}")
    lines = [f"{summary['n_images']} images ({', '.join(f'{s} {n}' for s, n in splits.items())}), "
             f"{len(summary['skipped'])} skipped",
             f"one training epoch ({how}): {plan['images_per_epoch']} images from the "
             f"{plan['n_images']} of the train split"]
    for attribute in labels.ATTRIBUTES:
        whole, train = summary["counts"][attribute], plan["counts"][attribute]
        epoch = plan["epoch_counts"][attribute]
        lines += ["", f"{attribute:<18}{'all splits':>12}{'train':>10}{'per epoch':>11}"]
        for value in whole:
            lines.append(f"  {value:<16}{whole[value]:>12}{train.get(value, 0):>10}{epoch.get(value, 0):>11}")
    for skipped in summary["skipped"][:20]:
        lines.append(f"skipped {skipped['path']}: {skipped['reason']}")
    if len(summary["skipped"]) > 20:
        lines.append(f"... and {len(summary['skipped']) - 20} more skipped")
    return "\n".join(lines)
