"""The command line: ``python -m modelkit {data,train,runs,evaluate,compare,saliency,labels,predict,export,cache,models,report} ...``.

Each command lives in its own ``modelkit/cli/<name>.py`` with ``add_parser(sub)``
and a ``run(args) -> int``. A user error is raised as ``ValueError`` or
``FileNotFoundError`` and printed as one line, exit status 2. This module only wires
the commands together; the heavy ones import TensorFlow only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("data", "train", "runs", "evaluate", "compare", "saliency", "labels", "predict", "export",
            "cache", "models", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modelkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"modelkit.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    # User errors (a missing folder, a bad label) are one line, not a traceback.
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
