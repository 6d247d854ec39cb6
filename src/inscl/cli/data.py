"""``inscl data``: build the SuperNI-16 stream, check a task folder.

``inscl data superni --tasks-dir PATH --out DIR`` writes per-category train/test JSONL
and a manifest (see :func:`inscl.data.superni.build_superni_stream`); ``inscl data check
--tasks DIR|FILES [--order ...]`` loads tasks the way ``plan`` and ``run`` do and prints
what it found, so that data problems show up before a long run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([fmt(cells[0]), "  ".join("-" * w for w in widths), *map(fmt, cells[1:])])


def _superni(args: argparse.Namespace) -> int:
    from inscl.data.superni import build_superni_stream

    manifest = build_superni_stream(
        args.tasks_dir, args.categories, out_dir=args.out, test_fraction=args.test_fraction, seed=args.seed,
        max_per_task=args.max_per_task, progress=False if args.quiet else None,
    )
    rows = [(c["name"], len(c["source_files"]), c["train"], c["test"]) for c in manifest["categories"]]
    rows.append(("total", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows)))
    print(_table(["category", "task files", "train", "test"], rows))
    skipped = f"; {len(manifest['skipped'])} task files skipped (see manifest)" if manifest["skipped"] else ""
    print(f"wrote {len(manifest['categories'])} categories to {args.out}{skipped}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from inscl.data import load_tasks
    from inscl.pathchecks import check_input

    for path in args.tasks:
        check_input(path, "--tasks")
    order = args.order
    if order is not None and len(order) == 1:
        order = order[0]  # a preset name or a comma-separated list
    from inscl.cli.common import read_options

    tasks = load_tasks(args.tasks, order=order, **read_options(args))
    rows = []
    for t in tasks:
        split = t.metadata.get("split")
        rows.append((t.name, t.metadata.get("format", "alpaca"), len(t), len(t.instructions()),
                     f"{len(split['train'])}/{len(split['test'])}" if split else "-"))
    print(_table(["task", "format", "examples", "instructions", "train/test"], rows))
    print(f"{len(tasks)} tasks, {sum(len(t) for t in tasks)} examples")
    return 0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("data", help="build the SuperNI-16 stream; check task data",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = sub.add_parser("superni", help="build the SuperNI-16 stream (per category train/test JSONL + manifest)")
    p.add_argument("--tasks-dir", required=True,
                   help="natural-instructions checkout or SuperNI subset folder (with tasks/)")
    p.add_argument("--categories", default=None,
                   help="category -> task files JSON (default: categories.json in --tasks-dir, if any)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share per category (default 0.2)")
    p.add_argument("--max-per-task", type=int, default=None, help="keep the first N instances of each task file")
    p.set_defaults(func=_superni)

    c = sub.add_parser("check", help="load tasks as plan/run would and print a summary")
    c.add_argument("--tasks", nargs="+", required=True, help="a task folder or task files (JSONL/JSON)")
    c.add_argument("--order", nargs="+", default=None,
                   help="task names in order, or a preset (curriculum, reverse, random, random:SEED)")
    from inscl.cli.common import add_read_arguments

    add_read_arguments(c)
    c.set_defaults(func=_check)


if __name__ == "__main__":  # pragma: no cover
    from inscl.cli import main

    sys.exit(main(["data", *sys.argv[1:]]))
