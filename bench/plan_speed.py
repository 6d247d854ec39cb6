"""How fast is replay planning? A 16-task stream planned end to end, then InsInfo selection
against the naive way on the same inputs.

    python bench/plan_speed.py                       # 16 tasks x 5000 examples x 200 instructions
    python bench/plan_speed.py --tasks 8 --examples 1000 --instructions 50
    python bench/plan_speed.py --superni             # ../shared/data/superni (16 categories)

Embeddings and tags are precomputed (random vectors, Zipf-distributed tags; for
``--superni`` hashing embeddings and the LLM tags of ``llm-tags.jsonl``, keyword tags for
instructions it lacks), so no model is timed.

Part 1 times ``ReplayPlanner.add_task`` per stage (strategy inscl: Wasserstein distances,
tag merging, InsInfo, selection) and prints examples/s. Part 2 times Algorithm 1 for
every stage and previous task, with the quotas of part 1 and the same InsInfo scores and
seeds: ``inscl.replay.selectors.select_insinfo`` against ``naive_select_insinfo`` of
``bench/naive_selection.py`` (list scans, the paper's code style), checking that both
allocate the same number of examples to every instruction. Figures come last, with the
ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from inscl.data.precomputed import PrecomputedEncoder
from inscl.data.task import Example, Task
from inscl.replay.insinfo import insinfo_scores
from inscl.replay.planner import BudgetWarning, PlannerConfig, ReplayPlanner
from inscl.replay.selectors import select_insinfo
from inscl.replay.tags import canonicalize_instruction_tags


# ------------------------------------------------------------------------------ inputs
def generated_stream(n_tasks: int, n_examples: int, n_instructions: int, n_tags: int, dim: int,
                     seed: int) -> tuple[list[Task], PrecomputedEncoder, dict[str, list[str]], PrecomputedEncoder]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_tasks, dim))
    from inscl.replay.tags import normalize_tag

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
    from inscl.data import load_tasks
    from inscl.encoders.hashing import HashingEncoder
    from inscl.replay.tags import normalize_tag

    tasks = load_tasks([path])
    texts = list(dict.fromkeys(s for t in tasks for s in t.instructions()))
    keywords = {s: sorted(set(re.findall(r"[a-z]{5,}", s.lower())))[:8] or ["other"] for s in texts}
    tags = keywords
    if (path / "llm-tags.jsonl").is_file():  # the LLM tags where they cover the data, keywords elsewhere
        from inscl.taggers.fallback import TableTagger, read_tag_table

        got = TableTagger(read_tag_table(path / "llm-tags.jsonl"), source="llm-tags.jsonl").tag(texts)
        tags = {s: got.get(s) or keywords[s] for s in texts}
    tag_texts = sorted({g for gs in tags.values() for g in gs} | {normalize_tag(g) for gs in tags.values() for g in gs})
    enc = HashingEncoder(dim=384)
    return (tasks, PrecomputedEncoder(dict(zip(texts, enc.encode(texts)))), tags,
            PrecomputedEncoder(dict(zip(tag_texts, enc.encode(tag_texts))), kind="tag"))


# ------------------------------------------------------------------------------ naive
def naive_selector() -> Callable[..., list[Example]]:
    """``naive_select_insinfo`` of bench/naive_selection.py (list scans, the paper's code style)."""
    spec = importlib.util.spec_from_file_location("naive_selection", REPO / "bench" / "naive_selection.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.naive_select_insinfo


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

    # Part 2: Algorithm 1, ours vs naive: same tasks, quotas, InsInfo scores and rng seeds.
    naive = naive_selector()
    stages = planner.stages[1:]
    if args.naive_stages:
        stages = stages[-args.naive_stages:]
    fast_s = naive_s = 0.0
    n_selected = 0
    for stage in stages:
        seen = tasks[:stage.index]
        instructions = list(dict.fromkeys(s for t in seen for s in t.instructions()))
        canonical = canonicalize_instruction_tags({s: tags[s] for s in instructions}, tag_encoder,
                                                  eps=planner.merge_eps, min_samples=planner.merge_min_samples)
        scores = insinfo_scores(canonical)
        for prev in seen[:-1]:
            n = stage.quotas[prev.name]
            prev_scores = {s: scores[s] for s in prev.instructions()}
            t0 = time.perf_counter()
            ours = select_insinfo(prev, n, prev_scores, np.random.default_rng([args.seed, stage.index]))
            t1 = time.perf_counter()
            theirs = naive(prev, n, prev_scores, np.random.default_rng([args.seed, stage.index]))
            t2 = time.perf_counter()
            fast_s += t1 - t0
            naive_s += t2 - t1
            n_selected += len(ours)
            # Same allocation per instruction (the draws within an instruction may differ).
            assert Counter(e.instruction for e in ours) == Counter(e.instruction for e in theirs)

    print(f"stream: {label}; {n_examples} examples, "
          f"{len({s for t in tasks for s in t.instructions()})} distinct instructions; strategy inscl, "
          f"budget {args.budget}")
    print("stage  task            seconds  replay")
    for stage, seconds in zip(planner.stages, stage_s):
        print(f"{stage.index:>5}  {stage.task[:14]:<14}  {seconds:7.3f}  {stage.replay_total:>6}")
    print(f"Algorithm 1 compared on {len(stages)} stages, {n_selected} examples selected "
          "(naive: bench/naive_selection.py)")
    print(f"planning total: {plan_total:.2f} s, {n_examples / plan_total:,.0f} examples/s")
    print(f"InsInfo selection, inscl.replay.selectors: {fast_s:.3f} s")
    print(f"InsInfo selection, naive:           {naive_s:.3f} s")
    print(f"ratio naive / planner: {naive_s / fast_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
