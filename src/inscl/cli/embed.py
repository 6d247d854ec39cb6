"""``inscl embed``: fill the embedding cache for every distinct instruction of a task stream.

With ``--out`` the embeddings are also written (atomically) as ``.npz`` with arrays
``texts`` and ``embeddings``, or as JSONL for any other suffix: the formats
``inscl plan --embeddings`` reads. ``--tags FILE`` adds the tags of a tag file (raw and
normalised), so that the same file can also serve the tag merging of the planner.
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
        "embed", help="embed the distinct instructions of tasks (cached), optionally write them to a file",
        description="Encode every distinct instruction of the given tasks into the embedding cache; with "
                    "--out also write them as .npz (texts, embeddings) or JSONL for "
                    "`inscl plan --embeddings`.")
    add_tasks_argument(p)
    p.add_argument("--encoder", default="minilm", metavar="SPEC",
                   help="hashing, minilm (default, the packaged all-MiniLM-L6-v2), st:PATH, causal:PATH")
    add_cache_dir_argument(p, "embedding cache")
    p.add_argument("--out", type=Path, metavar="FILE", help="write texts and embeddings (.npz, else JSONL)")
    p.add_argument("--tags", type=Path, metavar="FILE",
                   help="also embed the tags of this tag file (JSONL from `inscl tag`, or JSON)")
    p.add_argument("--device", metavar="DEV", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per model call (default 64)")
    p.set_defaults(func=run)
    return p


def tag_texts(tags: dict[str, list[str]]) -> list[str]:
    """Distinct raw tags of a tag table plus their normalised forms (when inscl.replay.tags exists)."""
    raw = list(dict.fromkeys(t for ts in tags.values() for t in ts))
    try:
        from inscl.replay.tags import normalize_tag
    except ImportError:
        return raw
    return list(dict.fromkeys(raw + [n for n in map(normalize_tag, raw) if n]))


def _check_paths(args: argparse.Namespace) -> None:
    """The inputs are readable and the outputs writable, before any model is loaded."""
    from inscl.pathchecks import check_cache_dir, check_input, check_output_file

    inputs = [check_input(path, "--tasks") for path in args.tasks]
    if args.tags is not None:
        inputs.append(check_input(args.tags, "--tags", "file"))
    check_cache_dir(args.cache_dir or cache_root(), "--cache-dir")
    if args.out is not None:
        check_output_file(args.out, "--out", inputs)


def run(args: argparse.Namespace) -> int:
    from inscl.encoders import make_encoder

    if args.batch_size < 1:
        raise InputError(f"must be >= 1, got {args.batch_size}", field="--batch-size")
    if args.out is not None and args.out.is_dir():
        raise InputError("is a directory; give a file name (.npz or .jsonl)", path=args.out, field="--out")
    _check_paths(args)
    quiet = bool(getattr(args, "quiet", False))
    tasks, texts = tasks_and_instructions(args.tasks, **read_options(args))
    if args.tags is not None:
        from inscl.data.precomputed import load_tags

        texts = list(dict.fromkeys(texts + tag_texts(load_tags(args.tags))))
    try:
        encoder = make_encoder(args.encoder, cache_dir=args.cache_dir or cache_root(),
                               device=args.device, batch_size=args.batch_size,
                               progress=False if quiet else None)
    except InputError as exc:
        raise InputError(exc.reason, path=exc.path, line=exc.line, field=exc.field or "--encoder") from None
    cache = getattr(encoder, "cache", None)
    before = len(cache) if cache is not None else None
    matrix = encoder.encode(texts)
    if args.out is not None:
        from inscl.data.precomputed import save_embeddings

        save_embeddings(args.out, texts, matrix)
    if not quiet:
        new = f", {len(cache) - before} newly encoded" if cache is not None and before is not None else ""
        print(f"{len(texts)} texts from {len(tasks)} tasks embedded with {encoder.id} "
              f"(dim {matrix.shape[1]}{new})" + (f"; wrote {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    from inscl.cli import main

    sys.exit(main(["embed", *sys.argv[1:]]))
