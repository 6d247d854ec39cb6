"""``inscl compare RUN_DIR...``: Relative Gain per stage and final, per strategy, over seeds."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare", help="table of Relative Gain per stage and final, per strategy (mean ± std over seeds)",
        description="Reads <strategy>/seed<k>/results.json under each RUN_DIR written by `inscl run`.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON rows")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inscl.runner.compare import comparison_rows, format_json, format_markdown, format_text, load_results

    rows = comparison_rows(load_results(args.run_dirs))
    if args.json:
        print(format_json(rows), end="")
    elif args.markdown:
        print(format_markdown(rows), end="")
    else:
        print(format_text(rows), end="")
    return 0
