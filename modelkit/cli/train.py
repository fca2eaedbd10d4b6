"""`python -m modelkit train`: train the shared model and write a run folder.

    python -m modelkit train --source utkface --root ../shared/data/utkface_sample

Prints the run folder at the end. ``--background`` hands the run to the launcher
(``modelkit.runs``) and returns at once.
"""

from __future__ import annotations

import argparse
import time

from modelkit import labels, paths

SOURCES = ("synthetic", "utkface", "fairface", "imdbwiki", "csv")
BACKBONES = ("small_cnn", "mobilenet_v3_small", "efficientnet_b0", "inception_resnet_v2")
BALANCE = ("none", "age_group", "gender", "race", "joint")


def _target(value: str) -> str | int:
    if value in ("max", "median"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"--target must be max, median or a positive count; got {value!r}")


def _loss_weights(value: str) -> dict[str, float]:
    """``gender=1,race=0.5,age=1`` -> dict; heads left out keep weight 1."""
    weights = {h: 1.0 for h in labels.HEADS}
    for item in filter(None, value.split(",")):
        head, _, number = item.partition("=")
        head = head.strip()
        try:
            weights[head] = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--loss-weights item {item!r} is not head=number (e.g. gender=1,race=1,age=0.5)")
        if head not in labels.HEADS:
            raise argparse.ArgumentTypeError(
                f"--loss-weights names unknown head {head!r}; heads are {', '.join(labels.HEADS)}")
    return weights


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (shared with the launcher, which rebuilds a command line
    from a run's config). A flag left out is None here and takes ``TrainConfig``'s
    default in :func:`config_from_args`, so parsing never imports TensorFlow."""
    parser.add_argument("--source", choices=SOURCES, help="dataset kind (default synthetic)")
    parser.add_argument("--root", help="dataset folder")
    parser.add_argument("--labels", help="labels file (FairFace CSV, "
                        "IMDB-WIKI .mat, generic CSV)")
    parser.add_argument("--backbone", choices=BACKBONES, help="default small_cnn")
    parser.add_argument("--image-size", type=_positive, help="default 64")
    parser.add_argument("--epochs", type=_positive, help="default 12")
    parser.add_argument("--batch-size", type=_positive, help="default 64")
    parser.add_argument("--lr", type=float, help="initial learning rate "
                        "(cosine-decayed over the run; default 0.002)")
    parser.add_argument("--balance", choices=BALANCE,
                        help="oversample the training split to balance this attribute")
    parser.add_argument("--target", type=_target,
                        help="images per balanced value: max, median or a count")
    parser.add_argument("--max-repeat", type=_positive,
                        help="no image is used more than this many times per epoch")
    parser.add_argument("--loss-weights", type=_loss_weights,
                        help="per-head loss weights, e.g. gender=1,race=1,age=0.5")
    parser.add_argument("--weights",
                        help="none, imagenet (keras.applications backbones) or a .keras file")
    parser.add_argument("--limit", type=_positive, help="use at most N images")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train on the images as they are")
    parser.add_argument("--run-dir", default=None, help="the run folder (default: "
                        "<runs root>/<timestamp>-<backbone>-<source>)")
    parser.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --run-dir from its last checkpoint")


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the shared gender/race/age model",
                       description=__doc__.splitlines()[0])
    add_train_arguments(p)
    p.add_argument("--background", action="store_true",
                   help="start the run in the background (see `runs`) and return")
    p.add_argument("--json", action="store_true", help="with --background: print JSON")
    p.add_argument("--workers", type=_positive, default=None,
                   help="start N local training workers on 127.0.0.1 (generated TF_CONFIG, "
                        "MultiWorkerMirroredStrategy); --batch-size is then per worker")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the parsed flags ask for."""
    from modelkit.train import TrainConfig

    names = set(TrainConfig.__dataclass_fields__)
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def default_run_dir(config, *, runs_root: str | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return str(paths.runs_root(runs_root) / f"{stamp}-{config.backbone}-{config.source}")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "workers", None):
        return run_local_workers(args)
    if getattr(args, "background", False):
        from modelkit.runs import handle_background
        return handle_background(args)
    if args.resume and not args.run_dir:
        raise ValueError("--resume needs --run-dir: the run folder to continue")
    from modelkit.train import train

    config = config_from_args(args)
    run_dir = train(config, resume=args.resume,
                    run_dir=args.run_dir or default_run_dir(config, runs_root=args.runs_root))
    print(run_dir)
    return 0


def run_local_workers(args: argparse.Namespace) -> int:
    """``train --workers N``: the same training flags as N local worker processes
    (``modelkit.distributed.launch_local_workers``); prints the chief's run folder."""
    if args.background:
        raise ValueError("--workers starts the workers in the foreground; drop --background "
                         "(or run the workers under your own scheduler, see README)")
    from modelkit.distributed import launch_local_workers
    from modelkit.runs import LAUNCHER_KEYS, argv_from_config

    flags = {k: v for k, v in vars(args).items() if k not in (*LAUNCHER_KEYS, "workers")}
    if args.resume and not args.run_dir:
        raise ValueError("--resume needs --run-dir: the run folder to continue")
    argv = argv_from_config(flags) + (["--resume"] if args.resume else [])
    names = argparse.Namespace(backbone=args.backbone or "small_cnn",  # no TensorFlow here
                               source=args.source or "synthetic")
    run_dir = args.run_dir or default_run_dir(names, runs_root=args.runs_root)
    return launch_local_workers(argv, workers=args.workers, run_dir=run_dir)
