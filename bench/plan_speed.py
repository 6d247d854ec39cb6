"""How fast is replay planning? A 16-task stream planned end to end, then InsInfo selection
against the naive way on the same inputs.

    python bench/plan_speed.py                       # 16 tasks x 5000 examples x 200 instructions
    python bench/plan_speed.py --tasks 8 --examples 1000 --instructions 50
    python bench/plan_speed.py --superni             # ../shared/data/superni (16 categories)

Embeddings and tags are precomputed (random vectors, Zipf-distributed tags; for
``--superni`` hashing embeddings and keyword tags), so no model is timed.

Part 1 times ``ReplayPlanner.add_task`` per stage (strategy inscl: Wasserstein distances,
tag merging, InsInfo, selection) and prints examples/s. Part 2 times, for every stage and
previous task with the quota of part 1, InsInfo scoring + Algorithm 1 as the planner does
it (scores once per stage, ``inscl.selectors.select_insinfo``) and the naive way
(``bench/naive_selection.py``'s ``naive_select_insinfo`` when present, else the version
below: InsInfo recounted from the raw tag lists for every previous task, examples grouped
by scanning the task for every chosen instruction). Figures come last, with the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from inscl.insinfo import insinfo_scores  # noqa: E402
from inscl.planner import BudgetWarning, PlannerConfig, ReplayPlanner  # noqa: E402
from inscl.precomputed import PrecomputedEncoder  # noqa: E402
from inscl.selectors import select_insinfo  # noqa: E402
from inscl.tags import canonicalize_instruction_tags  # noqa: E402
from inscl.task import Example, Task  # noqa: E402


# ------------------------------------------------------------------------------ inputs
def generated_stream(n_tasks: int, n_examples: int, n_instructions: int, n_tags: int, dim: int,
                     seed: int) -> tuple[list[Task], PrecomputedEncoder, dict[str, list[str]], PrecomputedEncoder]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_tasks, dim))
    from inscl.tags import normalize_tag

    # Tag names made of letters only, since normalisation turns digits into spaces.
    vocab = ["tag" + "".join(chr(97 + (k // 26 ** i) % 26) for i in range(3)) for k in range(n_tags)]
    zipf = 1.0 / np.arange(1, n_tags + 1)
    zipf /= zipf.sum()
    vectors: dict[str, np.ndarray] = {}
    tags: dict[str, list[str]] = {}
    tasks = []
    for t in range(n_tasks):
        instructions = [f"task {t} instruction {k}: please do the thing number {k}." for k in range(n_instructions)]
        for s in instructions:
            vectors[s] = (centres[t] + 0.7 * rng.normal(size=dim)).astype(np.float32)
            tags[s] = list(rng.choice(vocab, size=int(rng.integers(2, 6)), replace=False, p=zipf))
        weights = rng.uniform(0.2, 3.0, size=n_instructions)
        picks = rng.choice(n_instructions, size=n_examples, p=weights / weights.sum())
        name = f"task{t:02d}"
        tasks.append(Task(name, [Example(instructions[k], f"in {j}", f"out {j}", f"{name}-{j}", name)
                                 for j, k in enumerate(picks)]))
    tag_vectors = {}
    for g in vocab:
        tag_vectors[g] = tag_vectors[normalize_tag(g)] = rng.normal(size=32).astype(np.float32)
    return tasks, PrecomputedEncoder(vectors), tags, PrecomputedEncoder(tag_vectors, kind="tag")


def superni_stream(path: Path) -> tuple[list[Task], PrecomputedEncoder, dict[str, list[str]], PrecomputedEncoder]:
    from inscl.encoders.hashing import HashingEncoder
    from inscl.loaders import load_tasks
    from inscl.tags import normalize_tag

    tasks = load_tasks([path])
    texts = list(dict.fromkeys(s for t in tasks for s in t.instructions()))
    tags = {s: sorted(set(re.findall(r"[a-z]{5,}", s.lower())))[:8] or ["other"] for s in texts}
    tag_texts = sorted({g for gs in tags.values() for g in gs} | {normalize_tag(g) for gs in tags.values() for g in gs})
    enc = HashingEncoder(dim=384)
    return (tasks, PrecomputedEncoder(dict(zip(texts, enc.encode(texts)))), tags,
            PrecomputedEncoder(dict(zip(tag_texts, enc.encode(tag_texts))), kind="tag"))


# ------------------------------------------------------------------------------ naive
def own_naive_select_insinfo(examples: Sequence[Example], n: int, instruction_tags: Mapping[str, Sequence[str]],
                             seed: int) -> list[Example]:
    """Algorithm 1 written directly from the paper, recomputing everything per call."""
    pyrng = random.Random(seed)
    instructions: list[str] = []
    for e in examples:  # distinct instructions by scanning
        if e.instruction not in instructions:
            instructions.append(e.instruction)
    n_all = len(instruction_tags)
    scores = {}
    for s in instructions:  # f_tag recounted from all tag lists, for every instruction
        score = 0.0
        for tag in set(instruction_tags[s]):
            f = sum(1 for other in instruction_tags.values() if tag in other)
            score += math.log(n_all / f)
        scores[s] = score
    ranked = sorted(instructions, key=lambda s: -scores[s])

    def members(s: str) -> list[Example]:
        return [e for e in examples if e.instruction == s]

    if n < len(instructions):
        return [pyrng.choice(members(s)) for s in ranked[:n]]
    total = sum(scores.values()) or 1.0
    alloc = {s: min(len(members(s)), max(1, math.floor(n * scores[s] / total))) for s in ranked}
    while sum(alloc.values()) < n:
        for s in ranked:
            if sum(alloc.values()) < n and alloc[s] < len(members(s)):
                alloc[s] += 1
    while sum(alloc.values()) > n:
        for s in reversed(ranked):
            if sum(alloc.values()) > n and alloc[s] > 1:
                alloc[s] -= 1
    return [e for s in ranked for e in pyrng.sample(members(s), alloc[s])]


def naive_selector() -> tuple[Callable[..., list[Example]], str]:
    path = REPO / "bench" / "naive_selection.py"
    if path.is_file():
        spec = importlib.util.spec_from_file_location("naive_selection", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        fn = getattr(module, "naive_select_insinfo", None)
        if fn is not None:
            return _adapt(fn), "bench/naive_selection.py"
    return own_naive_select_insinfo, "own naive version (bench/plan_speed.py)"


def _adapt(fn: Callable[..., list[Example]]) -> Callable[..., list[Example]]:
    """Calls the core engineer's naive selector with the same inputs as ours."""
    def call(examples: Sequence[Example], n: int, instruction_tags: Mapping[str, Sequence[str]],
             seed: int) -> list[Example]:
        task = Task(examples[0].task, list(examples))
        return fn(task, n, instruction_tags, np.random.default_rng(seed))
    return call


# ------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=16)
    p.add_argument("--examples", type=int, default=5000, help="examples per task")
    p.add_argument("--instructions", type=int, default=200, help="distinct instructions per task")
    p.add_argument("--tag-vocab", type=int, default=600)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--superni", action="store_true", help="use ../shared/data/superni instead")
    p.add_argument("--naive-stages", type=int, default=0,
                   help="time the naive selection on the last N stages only (0 = all)")
    args = p.parse_args(argv)

    if args.superni:
        source = REPO.parent / "shared" / "data" / "superni"
        tasks, encoder, tags, tag_encoder = superni_stream(source)
        label = f"SuperNI subset ({source})"
    else:
        tasks, encoder, tags, tag_encoder = generated_stream(args.tasks, args.examples, args.instructions,
                                                             args.tag_vocab, args.dim, args.seed)
        label = f"generated: {args.tasks} tasks x {args.examples} examples x {args.instructions} instructions"
    n_examples = sum(len(t) for t in tasks)
    config = PlannerConfig(strategy="inscl", budget=args.budget, seed=args.seed)

    # Part 1: the planner end to end.
    planner = ReplayPlanner(config, encoder, tags, tag_encoder=tag_encoder, progress=False)
    stage_s = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BudgetWarning)
        for task in tasks:
            t0 = time.perf_counter()
            planner.add_task(task)
            stage_s.append(time.perf_counter() - t0)
    plan_total = sum(stage_s)

    # Part 2: InsInfo selection, ours vs naive, same quotas and tags.
    naive, naive_name = naive_selector()
    stages = planner.stages[1:]
    if args.naive_stages:
        stages = stages[-args.naive_stages:]
    fast_s = naive_s = 0.0
    n_selected = 0
    for stage in stages:
        seen = tasks[:stage.index]
        instructions = list(dict.fromkeys(s for t in seen for s in t.instructions()))
        canonical = canonicalize_instruction_tags({s: tags[s] for s in instructions}, tag_encoder,
                                                  eps=config.dbscan_eps, min_samples=config.dbscan_min_samples)
        t0 = time.perf_counter()
        scores = insinfo_scores(canonical)
        for prev in seen[:-1]:
            n = stage.quotas[prev.name]
            rng = np.random.default_rng([args.seed, stage.index])
            n_selected += len(select_insinfo(prev, n, {s: scores[s] for s in prev.instructions()}, rng))
        fast_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for prev in seen[:-1]:
            naive(prev.examples, stage.quotas[prev.name], canonical, args.seed)
        naive_s += time.perf_counter() - t0

    print(f"stream: {label}; {n_examples} examples, "
          f"{len({s for t in tasks for s in t.instructions()})} distinct instructions; strategy inscl, "
          f"budget {args.budget}")
    print("stage  task            seconds  replay")
    for stage, seconds in zip(planner.stages, stage_s):
        print(f"{stage.index:>5}  {stage.task[:14]:<14}  {seconds:7.3f}  {stage.replay_total:>6}")
    print(f"naive selection: {naive_name}; {len(stages)} stages compared, {n_selected} examples selected")
    print(f"planning total: {plan_total:.2f} s, {n_examples / plan_total:,.0f} examples/s")
    print(f"InsInfo selection (planner way): {fast_s:.3f} s")
    print(f"InsInfo selection (naive):       {naive_s:.3f} s")
    print(f"ratio naive / planner: {naive_s / fast_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
