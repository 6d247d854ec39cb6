"""Arguments and steps that several subcommands share (not a subcommand itself)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from inscl.data.task import Task
from inscl.errors import InputError


def add_tasks_argument(parser: argparse.ArgumentParser) -> None:
    """``--tasks DIR|FILE...``: what :func:`inscl.data.load_tasks` reads."""
    parser.add_argument("--tasks", nargs="+", required=True, metavar="DIR|FILE",
                        help="task directory (one file per task, or a SuperNI folder with categories.json) "
                             "or task files")


def add_cache_dir_argument(parser: argparse.ArgumentParser, holds: str) -> None:
    """``--cache-dir DIR``; ``holds`` says what the cache keeps (for the help text)."""
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help=f"{holds} (default $INSCL_CACHE_DIR or ~/.cache/inscl)")


def tasks_and_instructions(sources: Sequence[str | Path]) -> tuple[list[Task], list[str]]:
    """The tasks and their distinct instructions (first-seen order); no instruction is an error."""
    from inscl.data import load_tasks

    tasks = load_tasks(sources)
    instructions = list(dict.fromkeys(s for t in tasks for s in t.instructions()))
    if not instructions:
        raise InputError("no instructions found", field="--tasks")
    return tasks, instructions
