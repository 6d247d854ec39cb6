"""Arguments and steps that several subcommands share (not a subcommand itself)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inscl.data.task import Task
from inscl.errors import InputError


def add_tasks_argument(parser: argparse.ArgumentParser) -> None:
    """``--tasks DIR|FILE...``: what :func:`inscl.data.load_tasks` reads."""
    parser.add_argument("--tasks", nargs="+", required=True, metavar="DIR|FILE",
                        help="task directory (one file per task, or a SuperNI folder with categories.json) "
                             "or task files")
    add_read_arguments(parser)


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """How task files are read: ``--input-format``, ``--columns``, ``--instruction-from``, ``--skip-invalid``."""
    from inscl.data.formats import FORMATS, INSTRUCTION_RULES

    parser.add_argument("--input-format", choices=list(FORMATS), metavar="FORMAT",
                        help=f"record format of the task files: {', '.join(FORMATS)} (default: detected from "
                             "each file's first record; SuperNI task files are always recognised)")
    parser.add_argument("--columns", metavar="FIELD=COLUMN,...",
                        help="read other column names, e.g. instruction=question,output=answer")
    parser.add_argument("--instruction-from", choices=INSTRUCTION_RULES, default="system+user",
                        help="a conversation's InsCL instruction: its system prompt and first user turn "
                             "(default), the first user turn, or the system prompt")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="drop conversations that cannot be used (empty, not opened by the user, no "
                             "reply) with a warning instead of stopping")


def read_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`inscl.data.load_tasks` keyword arguments given by :func:`add_read_arguments`."""
    return {"format": getattr(args, "input_format", None), "columns": getattr(args, "columns", None),
            "instruction": getattr(args, "instruction_from", "system+user"),
            "skip_invalid": bool(getattr(args, "skip_invalid", False))}


def add_cache_dir_argument(parser: argparse.ArgumentParser, holds: str) -> None:
    """``--cache-dir DIR``; ``holds`` says what the cache keeps (for the help text)."""
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help=f"{holds} (default $INSCL_CACHE_DIR or ~/.cache/inscl)")


def tasks_and_instructions(sources: Sequence[str | Path], **read: Any) -> tuple[list[Task], list[str]]:
    """The tasks and their distinct instructions (first-seen order); no instruction is an error.

    ``read``: :func:`inscl.data.load_tasks` keyword arguments (see :func:`read_options`).
    """
    from inscl.data import load_tasks

    tasks = load_tasks(sources, **read)
    instructions = list(dict.fromkeys(s for t in tasks for s in t.instructions()))
    if not instructions:
        raise InputError("no instructions found", field="--tasks")
    return tasks, instructions
