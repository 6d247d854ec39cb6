"""``inscl demo``: the out-of-the-box experiment (none / random / inscl on a generated stream).

``inscl demo --write-data DIR`` only writes the generated task stream (one alpaca JSONL
per task plus manifest.json), to look at or to use with ``inscl plan`` / ``inscl run``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from inscl.errors import InputError


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0 or 0,1,2, got {text!r}") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo", help="run the built-in demo experiment (none / random / inscl) and write its report",
        description="Generate a small stream of rule-based tasks, fine-tune SmolLM2-135M-Instruct with LoRA "
                    "on it with replay strategies none, random and inscl (same budget and seed), print the "
                    "comparison table and write the HTML report. Fits in 10 minutes on a 2-core CPU; "
                    "offline; resumes when interrupted.")
    p.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2",
                   help="smollm2: packaged SmolLM2-135M-Instruct (default); tiny: a from-scratch tiny Llama")
    p.add_argument("--seeds", type=_seeds, default=[0], metavar="0[,1,...]", help="training seeds (default 0)")
    p.add_argument("--steps", type=int, metavar="N", help="optimiser steps of stage 1 (smollm2: 12, --quick 4; tiny: 40); later stages train their whole "
                   "mixture for the same number of epochs")
    p.add_argument("--out", type=Path, metavar="DIR", help="run directory (default runs/demo[-tiny][-quick])")
    p.add_argument("--quick", action="store_true", help="3 tasks, fewer examples and steps (a smoke test)")
    p.add_argument("--write-data", type=Path, metavar="DIR",
                   help="only write the generated task stream (all tasks) into DIR and exit")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated tasks (default 0)")
    p.add_argument("--examples", type=int, default=60, metavar="N",
                   help="examples per task for --write-data (default 60)")
    p.set_defaults(func=run)
    return p


def _show_progress(args: argparse.Namespace) -> bool:
    """Bars only for a person watching: a TTY, not CI, not --quiet."""
    return not args.quiet and sys.stderr.isatty() and not os.environ.get("CI")


def run(args: argparse.Namespace) -> int:
    if args.write_data is not None:
        from inscl.demo.stream import write_stream

        if args.examples < 1:
            raise InputError(f"must be >= 1, got {args.examples}", field="--examples")
        paths = write_stream(args.write_data, n_examples=args.examples, seed=args.data_seed)
        print(f"wrote {len(paths)} tasks ({args.examples} examples each) to {args.write_data}")
        return 0
    from inscl.demo.run import DemoSettings, run_demo

    # rouge-score logs "Using default tokenizer" at INFO for every scorer; keep the stage lines readable
    logging.getLogger("absl").setLevel(logging.WARNING)

    settings = DemoSettings(model=args.model, seeds=args.seeds, steps=args.steps, out=args.out, quick=args.quick,
                            data_seed=args.data_seed)
    run_demo(settings, progress=_show_progress(args))
    return 0
