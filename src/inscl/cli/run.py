"""``inscl run CONFIG``: run or resume a continual fine-tuning experiment."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from inscl.errors import InputError


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run (or resume) a continual fine-tuning experiment from a YAML config",
        description="Trains stage by stage for every strategy and seed of CONFIG, evaluates after each stage "
                    "and writes the run directory (results.json per strategy/seed, summary.json). Rerunning "
                    "skips finished stages.")
    p.add_argument("config", help="experiment YAML (see configs/)")
    p.add_argument("--output-dir", help="override output_dir")
    p.add_argument("--strategies", type=_csv, help="comma-separated strategies (override replay.strategies)")
    p.add_argument("--seeds", type=_csv, help="comma-separated seeds (override seeds)")
    p.add_argument("--max-steps", type=int, help="optimiser steps per stage (override optim.max_steps)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override model.device")
    p.add_argument("--force", action="store_true",
                   help="replace results of a different config in the output dir (overwrite: true)")
    p.set_defaults(func=run)


def _check_paths(config: Any) -> None:
    """The data and tags are readable and the output folder may be written, before torch loads."""
    from inscl.pathchecks import check_cache_dir, check_input
    from inscl.runner.rundir import RunDir

    inputs = [check_input(s, "data.source") for s in config.data.source]
    if config.replay.tags_file:
        inputs.append(check_input(config.replay.tags_file, "replay.tags_file", "file"))
    if config.replay.cache_dir:
        check_cache_dir(config.replay.cache_dir, "replay.cache_dir")
    RunDir(config.output_dir).check(inputs)


def run(args: argparse.Namespace) -> int:
    import os

    from inscl.runner import ExperimentConfig, run_experiment

    config = ExperimentConfig.from_yaml(args.config)
    changes: dict[str, Any] = {}
    if args.output_dir:
        changes["output_dir"] = os.path.abspath(args.output_dir)
    if args.strategies:
        changes["replay.strategies"] = args.strategies
    if args.seeds:
        try:
            changes["seeds"] = [int(s) for s in args.seeds]
        except ValueError:
            raise InputError(f"seeds must be integers, got {','.join(args.seeds)}", field="--seeds") from None
    if args.max_steps is not None:
        changes["optim.max_steps"] = args.max_steps
    if args.device:
        changes["model.device"] = args.device
    if args.force:
        changes["overwrite"] = True
    if changes:
        config = config.replace(**changes)
    _check_paths(config)
    progress = False if getattr(args, "quiet", False) else None
    results = run_experiment(config, progress=progress)
    log = logging.getLogger("inscl.runner")
    for doc in results:
        rg = doc["metrics"]["final_rg"]
        log.info("%s seed %d: final RG %s, final average ROUGE-L %.4f", doc["strategy"], doc["seed"],
                 "n/a" if rg is None else f"{rg:.2f}", doc["metrics"]["avg_score"][-1])
    print(f"results in {config.output_dir} (inscl compare {config.output_dir})")
    return 0
