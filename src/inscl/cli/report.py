"""``inscl report RUN_DIR... [--out DIR]``: one self-contained HTML report, PNG figures and summary.md.

Reads every ``results.json`` under the run directories; bad input ends with one line and
exit status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def default_out_dir(run_dirs: list[Path]) -> Path:
    """``<first run dir>/report`` (or next to a results.json given directly)."""
    first = run_dirs[0]
    return (first if first.is_dir() else first.parent) / "report"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="write an HTML report (figures, tables) from finished runs",
        description="Build one self-contained HTML page (task distances, replay quotas, score matrices, "
                    "Relative Gain curves, paired differences between strategies, forgetting, InsInfo, "
                    "configuration) plus figures/*.png, summary.md and paired.json from every results.json "
                    "under the given run directories.")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run output directories (searched recursively for results.json) or results.json files")
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default RUN_DIR/report)")
    p.add_argument("--title", default="inscl report", help="page title (default 'inscl report')")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from inscl.report import build_report

    out = args.out or default_out_dir(args.run_dirs)
    files = build_report(args.run_dirs, out, title=args.title)
    if not getattr(args, "quiet", False):
        print(files.summary.read_text(encoding="utf-8"))
    print(f"report: {files.html}")
    print(f"summary: {files.summary}")
    print(f"paired differences: {files.paired}")
    print(f"figures: {len(files.figures)} PNG files in {files.html.parent / 'figures'}")
    return 0
