"""``inscl tag``: intention tags for every distinct instruction of a task stream.

Results are appended to the tag cache as they arrive (``--cache-dir``), so an
interrupted run resumes where it stopped. With ``--out`` the tags of these tasks are
written (atomically) as JSONL ``{"instruction", "tags", "tagger"}`` — the file
``inscl plan --tags`` reads. Instructions that could not be tagged are listed in the
cache's ``failures.jsonl``; then the exit status is 1 and ``--out`` is written only with
``--allow-failures`` (failed instructions get no tags).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from inscl.cli.common import add_cache_dir_argument, add_tasks_argument, read_options, tasks_and_instructions
from inscl.errors import InputError
from inscl.paths import cache_root


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tag", help="tag the intentions of every distinct instruction (cached, resumable)",
        description="Tag every distinct instruction of the given tasks with intention tags (InsTag prompt "
                    "for LLM taggers) into an append-only cache; with --out write them for "
                    "`inscl plan --tags`.")
    add_tasks_argument(p)
    p.add_argument("--tagger", default="offline", metavar="SPEC",
                   help="offline (default), offline:ENCODER, openai:MODEL, local:PATH")
    add_cache_dir_argument(p, "tag cache")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the tags of these tasks as JSONL")
    p.add_argument("--allow-failures", action="store_true",
                   help="write --out even when some instructions failed (they get no tags)")
    g = p.add_argument_group("openai:MODEL")
    g.add_argument("--base-url", metavar="URL",
                   help="chat-completions base URL (default $INSCL_OPENAI_BASE_URL, $OPENAI_BASE_URL, "
                        "or https://api.openai.com/v1); the key comes from $OPENAI_API_KEY")
    g.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (default 4)")
    g.add_argument("--timeout", type=float, metavar="S", help="seconds per request (default 60)")
    g.add_argument("--max-retries", type=int, metavar="N", help="retries of a transient failure (default 5)")
    g.add_argument("--backoff-base", type=float, metavar="S",
                   help="first retry delay in seconds, doubled each time (default 1)")
    g.add_argument("--backoff-max", type=float, metavar="S",
                   help="longest retry delay in seconds (default 60)")
    g = p.add_argument_group("local:PATH")
    g.add_argument("--device", metavar="DEV", help="torch device (default: cuda if available, else cpu)")
    g.add_argument("--max-new-tokens", type=int, metavar="N", help="generated tokens per reply (default 256)")
    g = p.add_argument_group("offline")
    g.add_argument("--top-k", type=int, metavar="K", help="most tags per instruction (default 8); the count follows the instruction")
    p.set_defaults(func=run)
    return p


_OPTIONS = {"openai:": ("base_url", "concurrency", "timeout", "max_retries", "backoff_base", "backoff_max"),
            "local:": ("device", "max_new_tokens"), "offline": ("top_k",)}


def _tagger_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, checked against the tagger kind."""
    given = {name: getattr(args, name) for names in _OPTIONS.values() for name in names
             if getattr(args, name) is not None}
    allowed = next((names for prefix, names in _OPTIONS.items() if args.tagger.startswith(prefix)), ())
    minimum = {"concurrency": 1, "max_new_tokens": 1, "top_k": 1, "max_retries": 0, "backoff_base": 0}
    for name, value in given.items():
        flag = "--" + name.replace("_", "-")
        if name not in allowed:
            raise InputError(f"does not apply to tagger {args.tagger!r}", field=flag)
        if name in minimum and value < minimum[name]:
            raise InputError(f"must be >= {minimum[name]}, got {value}", field=flag)
        if name in ("timeout", "backoff_max") and value <= 0:
            raise InputError(f"must be > 0, got {value}", field=flag)
    return given


def _check_paths(args: argparse.Namespace) -> None:
    """The inputs are readable and the outputs writable, before any model is loaded."""
    from inscl.pathchecks import check_cache_dir, check_input, check_output_file

    inputs = [check_input(path, "--tasks") for path in args.tasks]
    check_cache_dir(args.cache_dir or cache_root(), "--cache-dir")
    if args.out is not None:
        check_output_file(args.out, "--out", inputs)


def run(args: argparse.Namespace) -> int:
    from inscl.data.jsonio import write_jsonl
    from inscl.taggers import make_tagger

    quiet = bool(getattr(args, "quiet", False))
    if args.out is not None and args.out.is_dir():
        raise InputError("is a directory; give a file name (.jsonl)", path=args.out, field="--out")
    _check_paths(args)
    options = _tagger_options(args)
    tasks, instructions = tasks_and_instructions(args.tasks, **read_options(args))
    try:
        tagger = make_tagger(args.tagger, cache_dir=args.cache_dir or cache_root(),
                             progress=False if quiet else None, **options)
    except InputError as exc:
        raise InputError(exc.reason, path=exc.path, line=exc.line, field=exc.field or "--tagger") from None
    tags = tagger.tag(instructions)
    failures = list(getattr(tagger, "last_failures", []))
    failed = {f.instruction for f in failures}
    if args.out is not None and (not failures or args.allow_failures):
        write_jsonl(args.out, ({"instruction": s, "tags": tags.get(s, []), "tagger": tagger.id}
                               for s in instructions))
    new = getattr(tagger, "last_tagged", len(instructions))
    if not quiet:
        distinct = len({t for s in instructions for t in tags.get(s, [])})
        print(f"{len(instructions)} instructions from {len(tasks)} tasks: "
              f"{len(instructions) - new} from cache, "
              f"{new - len(failed)} newly tagged, {len(failed)} failed; {distinct} distinct tags "
              f"({tagger.id})" + (f"; wrote {args.out}" if args.out and (not failures or args.allow_failures)
                                  else ""))
    if failures:
        cache = getattr(tagger, "cache", None)
        where = f" (details in {cache.failures_path})" if cache is not None else ""
        print(f"inscl tag: {len(failures)} instruction(s) could not be tagged{where}; rerun to retry them"
              + ("" if args.allow_failures or args.out is None else f"; {args.out} not written"),
              file=sys.stderr)
        for f in failures[:5]:
            print(f"  {f.instruction[:60]!r}: {f.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    from inscl.cli import main

    sys.exit(main(["tag", *sys.argv[1:]]))
