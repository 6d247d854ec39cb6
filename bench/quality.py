"""Strategy comparison: Relative Gain of replay strategies on one task stream.

Runs (or resumes) ``inscl run`` for the chosen strategies and seeds through the runner's
Python API and writes the RG table (Markdown) beside the run. Small on a CPU by default
(the tiny from-scratch model on 4 SuperNI categories); the same script runs the real
experiment on a GPU with ``--config configs/smollm2-superni.yaml``.

    python bench/quality.py                                   # tiny, CPU, none/random/inscl, 2 seeds
    python bench/quality.py --strategies all --seeds 0,1,2
    python bench/quality.py --config configs/smollm2-superni.yaml --device cuda --strategies all

Figures (the table) are printed last.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL = ["none", "random", "inscl", "dynamic", "insinfo", "prototype-data", "prototype-instruction",
       "diverse-instruction", "multitask"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "tiny-superni.yaml"))
    p.add_argument("--strategies", default="none,random,inscl", help="comma list or 'all'")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--order", help="curriculum | reverse | random | comma list of task names")
    p.add_argument("--max-tasks", type=int, help="first N tasks of the order (>= 4 recommended)")
    p.add_argument("--max-steps", type=int,
                   help="cap on optimiser steps per stage (a larger stage mixture is subsampled uniformly)")
    p.add_argument("--reference", choices=["expert", "diagonal"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--output-dir", help="run directory (default: the config's output_dir)")
    p.add_argument("--markdown", help="where to write the table (default OUTPUT/quality.md)")
    p.add_argument("--force", action="store_true", help="replace results of a different config")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from inscl.runner import ExperimentConfig, run_experiment
    from inscl.runner.compare import comparison_rows, format_markdown

    config = ExperimentConfig.from_yaml(args.config)
    changes: dict = {"replay.strategies": ALL if args.strategies == "all" else args.strategies.split(","),
                     "seeds": [int(s) for s in args.seeds.split(",")]}
    if args.order:
        changes["data.order"] = args.order if args.order in ("curriculum", "reverse", "random") \
            else args.order.split(",")
    if args.max_tasks:
        changes["data.max_tasks"] = args.max_tasks
    if args.max_steps:
        changes["optim.max_steps"] = args.max_steps
    if args.reference:
        changes["reference"] = args.reference
    if args.device:
        changes["model.device"] = args.device
    if args.output_dir:
        changes["output_dir"] = str(Path(args.output_dir).resolve())
    if args.force:
        changes["overwrite"] = True
    config = config.replace(**changes)
    start = time.perf_counter()
    results = run_experiment(config, progress=None)
    wall = time.perf_counter() - start
    rows = comparison_rows([(Path(config.output_dir).name, d) for d in results])
    table = format_markdown(rows)
    order = results[0]["order"]
    header = (f"Model {config.model.name} ({config.finetune.mode}), {len(order)} tasks "
              f"({', '.join(order)}), budget {config.replay.budget}/task, seeds {config.seeds}, "
              f"steps/stage {config.optim.max_steps or f'{config.optim.epochs} epochs'}, reference "
              f"{config.reference}; wall {wall:.0f}s (finished stages are reused on a rerun)\n\n")
    out = Path(args.markdown) if args.markdown else Path(config.output_dir) / "quality.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + table)
    print(f"table written to {out}", file=sys.stderr)
    print(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
