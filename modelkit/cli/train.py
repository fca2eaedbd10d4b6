"""`python -m modelkit train`: train the shared model and write a run folder.

    python -m modelkit train --source utkface --root ../shared/data/utkface_sample
    python -m modelkit train --config runs/abc/config.json --run-dir runs/abc --resume

Settings come from ``modelkit.config.TrainConfig``: its defaults, then ``--config FILE``
(a JSON object of settings, as a run's ``config.json``), then the flags given. This
module picks the trainer: ``--background`` hands the config to the launcher
(``modelkit.runs``), ``--control KEY=VALUE`` queues the run and a control differing in
that setting as one experiment (``modelkit.runs.experiments``), ``--workers N`` starts N
local workers, ``TF_CONFIG`` makes this process one worker of a cluster, and otherwise
it trains here in the foreground.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from modelkit import config as cfg
from modelkit import paths

D = cfg.DEFAULTS


def _checked(parse):
    def parse_flag(value: str):
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse_flag


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The training settings as flags. A flag left out is None here, so that
    :func:`config_from_args` can tell it from a value given (``--config`` then wins);
    the help shows ``TrainConfig``'s default."""
    parser.add_argument("--config", help="a JSON file of train settings (a run's config.json); "
                        "flags given on the command line override it")
    parser.add_argument("--source", choices=cfg.SOURCES, help=f"dataset kind (default {D.source})")
    parser.add_argument("--root", help="dataset folder")
    parser.add_argument("--labels", help="labels file (FairFace CSV, IMDB-WIKI .mat, generic CSV)")
    parser.add_argument("--backbone", choices=cfg.BACKBONES, help=f"default {D.backbone}")
    parser.add_argument("--image-size", type=_positive, help=f"default {D.image_size}")
    parser.add_argument("--epochs", type=_positive, help=f"default {D.epochs}")
    parser.add_argument("--batch-size", type=_positive, help=f"default {D.batch_size}")
    parser.add_argument("--lr", type=float, help="initial learning rate "
                        f"(cosine-decayed over the run; default {D.lr:g})")
    parser.add_argument("--balance", choices=cfg.BALANCE_MODES,
                        help=f"oversample the training split to balance this attribute "
                             f"(default {D.balance})")
    parser.add_argument("--target", type=_checked(cfg.parse_target),
                        help=f"images per balanced value: max, median or a count (default {D.target})")
    parser.add_argument("--max-repeat", type=_positive,
                        help=f"no image is used more than this many times per epoch (default {D.max_repeat})")
    parser.add_argument("--loss-weights", type=_checked(cfg.parse_loss_weights),
                        help="per-head loss weights, e.g. gender=1,race=1,age=0.5 (default 1 each)")
    parser.add_argument("--weights", help="none, imagenet (keras.applications backbones; a "
                        "download), a local ImageNet .h5 for them, or an earlier run's .keras "
                        f"(default {D.weights}; dlib_resnet is dlib's trained network anyway)")
    parser.add_argument("--freeze-epochs", type=int, help="with a pretrained backbone: train "
                        f"only the heads for the first N epochs (default {D.freeze_epochs})")
    parser.add_argument("--backbone-lr-scale", type=float, help="with a pretrained backbone: "
                        "its learning rate as a share of the heads' (default "
                        f"{D.backbone_lr_scale:g})")
    parser.add_argument("--limit", type=_positive, help="use at most N images")
    parser.add_argument("--seed", type=int, help=f"default {D.seed}")
    parser.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                        help="train on the images as they are")
    parser.add_argument("--label-smoothing", type=float, help="share of each gender/race target "
                        f"spread over the classes (default {D.label_smoothing:g})")
    parser.add_argument("--age-l1", type=float, help="add this many times the expected age's "
                        f"error in years to the age loss (default {D.age_l1:g})")
    parser.add_argument("--head-hidden", type=int, help="units of a hidden layer of each head's "
                        f"own on the shared features, 0 for none (default {D.head_hidden})")
    parser.add_argument("--dropout", type=float, help="dropout rate on the shared features "
                        f"(default {D.dropout:g})")
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                        help="keep an exponential moving average of the weights and save it "
                             f"(default {'on' if D.ema else 'off'})")
    parser.add_argument("--precision", choices=cfg.PRECISIONS,
                        help="auto (the default): bfloat16 where the CPU (AMX, AVX512-BF16) or "
                             "GPU (compute capability 8.0+) has units for it, float16 on an "
                             "older GPU, float32 otherwise; the saved model is float32")
    parser.add_argument("--corrections", help="a corrections file of label decisions (the Review "
                        "page's, or `labels review`'s): relabel or drop those images")
    parser.add_argument("--align", action="store_true", default=None,
                        help="detect and align each face first (loosely cropped sets such as "
                             "FairFace's); images without a usable face are skipped")
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
    p.add_argument("--control", action="append", metavar="KEY=VALUE", type=_control_item,
                   help="also train a control run that differs only in this setting (repeat "
                        "for several), e.g. balance=none: a remedy experiment, same seed and "
                        "split; implies --background and prints both run ids")
    p.set_defaults(func=run)


def _control_item(value: str) -> tuple[str, object]:
    from modelkit.runs.experiments import parse_control_item

    return _checked(parse_control_item)(value)


def config_from_args(args: argparse.Namespace) -> cfg.TrainConfig:
    """TrainConfig's defaults, overridden by ``--config FILE``, overridden by the flags.

    ``--resume`` without ``--config`` starts from the run's own ``config.json``, so a
    resumed run keeps its planned epochs (and every other setting) unless a flag says
    otherwise.
    """
    from modelkit.runfolder import CONFIG_FILE

    source = args.config
    if source is None and args.resume and args.run_dir:
        saved = Path(args.run_dir) / CONFIG_FILE
        source = saved if saved.is_file() else None
    base = cfg.TrainConfig.load(source).to_dict() if source else {}
    names = cfg.TrainConfig.field_names()
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return cfg.TrainConfig.from_dict(base | given)


def default_run_dir(config: cfg.TrainConfig, *, runs_root: str | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return str(paths.runs_root(runs_root) / f"{stamp}-{config.backbone}-{config.source}")


def run(args: argparse.Namespace) -> int:
    if args.resume and not args.run_dir:
        raise ValueError("--resume needs --run-dir: the run folder to continue")
    config = config_from_args(args)
    config.validate()  # files too: a missing weights file is refused now, not in the queue
    if args.control:
        return _experiment(args, config)
    if args.workers:
        return _local_workers(args, config)
    if args.background:
        return _background(args, config)
    run_dir = args.run_dir or default_run_dir(config, runs_root=args.runs_root)
    from modelkit.training.multiworker.cluster import cluster_task

    if cluster_task() is not None:  # TF_CONFIG names a cluster: this process is one worker
        from modelkit.training.multiworker.trainer import train_multi_worker
        run_dir = train_multi_worker(config, run_dir=run_dir, resume=args.resume)
    else:
        from modelkit.training.fit import train
        run_dir = train(config, run_dir=run_dir, resume=args.resume)
    print(run_dir)
    return 0


def _background(args: argparse.Namespace, config: cfg.TrainConfig) -> int:
    """``--background``: hand the config to the launcher; print the run's id (or JSON)."""
    from modelkit.runs import start_run

    run = start_run(config, runs_root=args.runs_root)
    if args.run_dir:
        print(f"note: --run-dir is chosen by the launcher with --background; the run is in "
              f"{run.run_dir}", file=sys.stderr)
    if args.json:
        print(json.dumps({"id": run.id, "run_dir": run.run_dir, "state": run.state}))
    else:
        print(run.id)
    return 0


def _experiment(args: argparse.Namespace, config: cfg.TrainConfig) -> int:
    """``--control KEY=VALUE``: queue the run and its control as one experiment; print
    both ids (the run as configured first), or JSON."""
    from modelkit.runs.experiments import describe_control, start_experiment

    if args.workers or args.resume:
        raise ValueError("--control starts a new experiment in the background; drop "
                         + ("--workers" if args.workers else "--resume"))
    control = {}
    for key, value in args.control:
        if key in control:
            raise ValueError(f"--control {key} is given twice; give each setting once")
        control[key] = value
    treatment, other = start_experiment(config, control=control, runs_root=args.runs_root)
    if args.json:
        print(json.dumps({"experiment": treatment.experiment, "runs": [
            {"id": r.id, "role": r.experiment_role, "run_dir": r.run_dir, "state": r.state}
            for r in (treatment, other)]}))
    else:
        print(f"experiment {treatment.experiment}: {treatment.id} as configured, {other.id} "
              f"control ({describe_control(treatment, other)})", file=sys.stderr)
        print(treatment.id)
        print(other.id)
    return 0


def _local_workers(args: argparse.Namespace, config: cfg.TrainConfig) -> int:
    """``--workers N``: N local worker processes on 127.0.0.1; exits 0 only if all did."""
    if args.background:
        raise ValueError("--workers starts the workers in the foreground; drop --background "
                         "(or run the workers under your own scheduler, see README)")
    from modelkit.training.multiworker.launcher import launch_local_workers

    run_dir = args.run_dir or default_run_dir(config, runs_root=args.runs_root)
    return launch_local_workers(config, workers=args.workers, run_dir=run_dir, resume=args.resume)
