"""``python -m modelkit data summary``: a dataset's balance, before and after the plan."""

from __future__ import annotations

import json

from modelkit import labels

SOURCES = ("synthetic", "utkface", "fairface", "imdbwiki", "csv")


def add_source_arguments(parser) -> None:
    """The dataset flags shared by ``data summary`` and ``train``."""
    parser.add_argument("--source", choices=SOURCES, default="synthetic")
    parser.add_argument("--root", help="dataset folder (not needed for synthetic)")
    parser.add_argument("--labels", help="label file (csv source; FairFace/IMDB-WIKI find theirs in --root)")
    parser.add_argument("--limit", type=int, help="use a seeded random subset of N images")
    parser.add_argument("--seed", type=int, default=0)


def add_balance_arguments(parser, *, default: str = "age_group") -> None:
    parser.add_argument("--balance", choices=("none", "age_group", "gender", "race", "joint"), default=default,
                        help="attribute to rebalance by oversampling (joint = age group × gender × race cells)")
    parser.add_argument("--target", default="max", type=_target,
                        help="count each value is raised towards: max, median or a number")
    parser.add_argument("--max-repeat", type=int, default=4, help="most times one image may be used per epoch")


def _target(text: str):
    if text in ("max", "median"):
        return text
    if text.isdigit():
        return int(text)
    raise ValueError(f"--target must be max, median or a whole number; received {text!r}")


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    summary = data_sub.add_parser("summary", help="counts per age group, gender and race, before and after balancing")
    add_source_arguments(summary)
    add_balance_arguments(summary)
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.set_defaults(func=run_summary)


def summarize(dataset, *, balance: str, target, max_repeat: int, seed: int = 0) -> dict:
    """The summary object ``--json`` prints (counts keyed by label, in label order)."""
    from modelkit.balance import plan_balance
    from modelkit.data.manifest import counts

    manifest = dataset.manifest
    before = {a: _as_dict(counts(manifest, a)) for a in labels.ATTRIBUTES}
    if balance == "none" or manifest.empty:
        after = before
    else:
        plan = plan_balance(manifest, attribute=balance, target=target, max_repeat=max_repeat, seed=seed)
        after = {a: _as_dict(plan.counts_after(a)) for a in labels.ATTRIBUTES}
    return {
        "n_images": int(len(manifest)),
        "skipped": [s.to_dict() for s in dataset.skipped],
        "counts": before,
        "balanced_counts": after,
    }


def _as_dict(series) -> dict:
    return {str(k): int(v) for k, v in series.items()}


def run_summary(args) -> int:
    from modelkit.data import load_dataset

    dataset = load_dataset(args.source, root=args.root, labels=args.labels, limit=args.limit, seed=args.seed)
    summary = summarize(dataset, balance=args.balance, target=args.target,
                        max_repeat=args.max_repeat, seed=args.seed)
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary, balance=args.balance))
    return 0


def format_summary(summary: dict, *, balance: str) -> str:
    """A readable table: one block per attribute, before and after side by side."""
    lines = [f"{summary['n_images']} images, {len(summary['skipped'])} skipped; balanced by: {balance}"]
    for attribute in labels.ATTRIBUTES:
        before, after = summary["counts"][attribute], summary["balanced_counts"][attribute]
        lines.append("")
        lines.append(f"{attribute:<18}{'before':>10}{'after':>10}")
        for value in before:
            lines.append(f"  {value:<16}{before[value]:>10}{after.get(value, 0):>10}")
    for skipped in summary["skipped"][:20]:
        lines.append(f"skipped {skipped['path']}: {skipped['reason']}")
    if len(summary["skipped"]) > 20:
        lines.append(f"... and {len(summary['skipped']) - 20} more skipped")
    return "\n".join(lines)
