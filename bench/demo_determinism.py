"""Is the demo deterministic? Reruns its config on this machine and compares the score matrices.

Runs the demo's experiment (same stream, model, steps and seed as ``inscl demo``) several
times in fresh directories, with each given torch thread count, and prints, per run, the
final RG of each strategy and the largest difference of any ``R[t][i]`` from the first
run. Same machine and same thread count is expected to repeat bit for bit; another thread
count (another summation order in the matrix kernels) may not, and neither may another CPU.

    python bench/demo_determinism.py                          # tiny model, quick stream, threads 1,1,2
    python bench/demo_determinism.py --model smollm2 --threads 1,1,2   # the real demo (3x its time)

Figures (the table) are printed last.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("tiny", "smollm2"), default="tiny")
    p.add_argument("--full", action="store_true", help="the full 4-task demo stream (default: --quick's 3 tasks)")
    p.add_argument("--threads", default="1,1,2", help="one run per entry: torch threads of that run")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)

    from inscl.demo.run import STRATEGIES, DemoSettings, experiment_dict
    from inscl.demo.stream import write_stream
    from inscl.runner import ExperimentConfig, run_experiment

    threads = [int(t) for t in args.threads.split(",")]
    rows, first = [], None
    with tempfile.TemporaryDirectory(prefix="inscl-determinism-") as tmp:
        for k, n_threads in enumerate(threads):
            settings = DemoSettings(model=args.model, seeds=[args.seed], quick=not args.full,
                                    out=Path(tmp) / f"run{k}").resolve()
            data_dir = Path(tmp) / "data"
            write_stream(data_dir, n_examples=settings.examples_per_task or 60, seed=settings.data_seed,
                         tasks=settings.tasks)
            spec = experiment_dict(settings, data_dir)
            spec["threads"] = n_threads
            start = time.perf_counter()
            docs = {d["strategy"]: d for d in run_experiment(ExperimentConfig.from_dict(spec), progress=False)}
            seconds = time.perf_counter() - start
            R = np.array([[np.nan if x is None else x for row in docs[s]["R"] for x in row] for s in STRATEGIES])
            if first is None:
                first = R
            diff = float(np.nanmax(np.abs(R - first)))
            rg = [docs[s]["metrics"]["final_rg"] for s in STRATEGIES]
            rows.append([str(k), str(n_threads), f"{seconds:.0f}"]
                        + ["–" if v is None else f"{v:.2f}" for v in rg]
                        + [f"{diff:.4f}", "yes" if np.array_equal(R, first, equal_nan=True) else "no"])
    header = ["run", "threads", "seconds"] + [f"final RG {s}" for s in STRATEGIES] + ["max |ΔR| vs run 0",
                                                                                      "identical"]
    print(f"demo config, model {args.model}, {'full' if args.full else 'quick'} stream, seed {args.seed}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
