"""The ``inscl`` command line.

Each subcommand lives in its own module ``inscl.cli.<name>`` exposing
``add_parser(subparsers)`` (which sets ``func`` on its parser); modules are imported
only when present so that heavy dependencies load only for the command that needs them.
Any :class:`inscl.errors.InputError` ends the program with one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from inscl.errors import InputError

SUBCOMMANDS = ["plan", "embed", "tag", "data", "run", "compare", "report", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inscl", description="Continual instruction tuning with InsCL replay.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"inscl.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"inscl.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else (logging.WARNING if args.quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"inscl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `inscl ... | head`: the reader went away; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"inscl {args.command}: interrupted; finished work is cached, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
