"""Evaluation cost: a per-task new-token budget vs one fixed budget, batched greedy generation.

The runner's evaluation (``runner/evaluate.py``) generates greedily with the KV cache in
length-sorted, left-padded batches, stops a row at EOS and a batch when every row has, and
gives each task a budget from its longest train reference (+25%, + EOS). This script times
that against the former default -- the same generation with ``max_new_tokens: 64`` for
every task and batches of 8 -- on the same test examples, with the base SmolLM2-135M-Instruct
(which often does not stop by itself) and, when given, a LoRA adapter of a finished stage
(which has learned to stop). Predictions are compared too: the budget must not cut answers
the fixed budget would have scored.

    python bench/eval_speed.py --n 20
    python bench/eval_speed.py --n 20 --adapter runs/protocol-many-smollm2/shared/curriculum/seed0/stage_01_sentence_extraction/adapter

Prints seconds, generated tokens and the ratio fixed / per-task.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / "runs" / "protocol-data" / "many"),
                   help="task source (default: the many-instruction stream of bench/replay_protocol.py data)")
    p.add_argument("--task", default="sentence_extraction")
    p.add_argument("--n", type=int, default=20, help="test examples")
    p.add_argument("--adapter", help="a stage's LoRA adapter folder (else the base model only)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from inscl.runner.config import DataConfig, PromptConfig
    from inscl.runner.data import load_stream
    from inscl.runner.evaluate import generate_counted, new_token_budget
    from inscl.runner.models import load_model

    torch.set_num_threads(args.threads)
    split = next(s for s in load_stream(DataConfig(source=[args.data], test_fraction=0.25, max_test_per_task=40))
                 if s.name == args.task)
    examples = list(split.test.examples)[: args.n]
    prompt = PromptConfig(max_prompt_tokens=64, max_target_tokens=8)
    model, tok = load_model("smollm2-135m-instruct", device="cpu")
    models = [("base", model)]
    if args.adapter:
        from peft import PeftModel

        base, _ = load_model("smollm2-135m-instruct", device="cpu")
        models.append(("adapter", PeftModel.from_pretrained(base, args.adapter).eval()))
    budget = new_token_budget(split.train.examples, tok, cap=64)
    print(f"task {args.task}: {len(examples)} test examples; per-task budget {budget} tokens (fixed: 64)")
    for label, m in models:
        runs = {}
        for name, max_new, batch in (("fixed 64, batch 8", 64, 8), (f"per-task {budget}, batch 20", budget, 20)):
            t0 = time.perf_counter()
            texts, counts = generate_counted(m, tok, examples, prompt=prompt, max_new_tokens=max_new,
                                             batch_size=batch)
            runs[name] = (time.perf_counter() - t0, sum(counts), texts)
            print(f"  {label:8s} {name:26s} {runs[name][0]:7.1f} s  {runs[name][1]:5d} new tokens")
        (fs, ft, ftexts), (ps, pt, ptexts) = runs.values()
        same = sum(a.startswith(b) or a == b for a, b in zip(ftexts, ptexts))
        print(f"  {label:8s} ratio fixed / per-task: {fs / ps:.2f}x time, {ft / max(pt, 1):.2f}x tokens; "
              f"{same}/{len(examples)} per-task predictions are prefixes of the fixed-budget ones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
