"""The ``inscl`` command line.

Each subcommand lives in its own module ``inscl.cli.<name>`` exposing
``add_parser(subparsers)`` (which sets ``func`` on its parser); modules are imported
only when present so that heavy dependencies load only for the command that needs them.

Exit codes (see docs/reliability.md): 0 success; 1 partial failure a command reports
itself (``inscl tag`` with untagged instructions); 2 a problem with the input, the
output place or the machine (:class:`~inscl.errors.InputError`, and the OS, memory,
archive and recursion errors raised while reading user data), always one line naming
the path; 130 interrupted (Ctrl-C, SIGINT); 143 terminated (SIGTERM, as sent by
``timeout``, Slurm or Kubernetes). Interrupted or terminated, temporary folders are
removed on the way out and finished work stays cached.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import zipfile
from collections.abc import Sequence
from types import FrameType
from typing import Any

from inscl.errors import InputError

SUBCOMMANDS = ["plan", "embed", "tag", "data", "run", "compare", "report", "demo"]

log = logging.getLogger("inscl.cli")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that every ``finally`` and
    ``except BaseException`` cleanup runs (temp folders removed, caches closed)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inscl", description="Continual instruction tuning with InsCL replay.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (and tracebacks)")
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


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM during the cleanup must not cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def os_error_line(exc: OSError) -> str:
    """One line for an OS error: the path(s), then the reason."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    hint = {errno.ENOSPC: "; free some space or choose another output folder",
            errno.EACCES: "; check the permissions", errno.EROFS: "; choose a writable folder"}.get(exc.errno or 0, "")
    return (" -> ".join(map(str, paths)) + ": " if paths else "") + reason + hint


def _error(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"inscl {args.command}: error: {message}", file=sys.stderr)
    return code


def _tasks_hint(args: argparse.Namespace) -> str:
    tasks = getattr(args, "tasks", None) or getattr(args, "config", None)
    if isinstance(tasks, (list, tuple)):
        tasks = " ".join(map(str, tasks))
    return f" {tasks}" if tasks else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else (logging.WARNING if args.quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        return _error(args, str(exc), 2)
    except BrokenPipeError:
        # `inscl ... | head`: the reader went away; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Terminated:
        print(f"inscl {args.command}: terminated (SIGTERM); temporary files removed, finished work is cached, "
              "rerun to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"inscl {args.command}: interrupted; finished work is cached, rerun to resume", file=sys.stderr)
        return 130
    # Below: failures on user data or the machine that no reader turned into an InputError.
    # One line each (the traceback with -v), never a traceback by default.
    except MemoryError:
        log.debug("out of memory", exc_info=True)
        return _error(args, f"out of memory while working on{_tasks_hint(args) or ' the input'}; use fewer or "
                            "smaller tasks, or a machine with more memory", 2)
    except RecursionError:
        log.debug("recursion", exc_info=True)
        return _error(args, f"input nested too deeply to read{_tasks_hint(args)}", 2)
    except OSError as exc:
        log.debug("OS error", exc_info=True)
        return _error(args, os_error_line(exc), 2)
    except (zipfile.BadZipFile, EOFError) as exc:
        log.debug("archive", exc_info=True)
        return _error(args, f"unreadable archive or truncated file ({exc}){_tasks_hint(args)}", 2)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
