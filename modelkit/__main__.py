"""The command line: ``python -m modelkit {data,train,runs,evaluate,saliency} ...``.

Each command lives in its own ``modelkit/cli/<name>.py`` with ``add_parser(sub)``
and a ``run(args) -> int``; this module only wires them together, and imports the
heavy ones (TensorFlow) only when they are called.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("data", "train", "runs", "evaluate", "saliency")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


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
    except (CommandError, FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
