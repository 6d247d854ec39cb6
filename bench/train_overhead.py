"""Training throughput of the runner's stage loop vs a bare torch loop, same model and data.

Both loops train a fresh copy of the same model (LoRA by default) on the same tokenised
examples with the same batch size and number of steps, in this one process; the first
steps of each are a warm-up and are not timed. Prints tokens/s of each and the ratio
runner / bare (1.0 = no overhead; figures last).

    python bench/train_overhead.py                       # tiny random Llama, CPU
    python bench/train_overhead.py --model smollm2-135m-instruct --steps 6
    python bench/train_overhead.py --mode full --threads 2
"""

from __future__ import annotations

import argparse
import random
import sys
import time


def _examples(n: int, seed: int = 0):
    from inscl.data.task import Example

    rng = random.Random(seed)
    words = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "garden", "rocket", "candle"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 16)))
        out.append(Example("Repeat the words in reverse order.", text, " ".join(text.split()[::-1]), str(i)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--mode", choices=["lora", "full"], default="lora")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="alternate the two loops this many times")
    args = p.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from inscl.runner.config import ExperimentConfig
    from inscl.runner.models import load_model
    from inscl.runner.prompts import pad_batch, training_ids
    from inscl.runner.train import get_accelerator, make_trainable, train_stage

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    cfg = ExperimentConfig.from_dict({"model": {"name": args.model, "device": args.device},
                                      "finetune": {"mode": args.mode},
                                      "optim": {"max_steps": args.steps, "epochs": 1, "batch_size": args.batch_size,
                                                "lr": 1e-4}})
    examples = _examples(args.steps * args.batch_size)
    acc = get_accelerator(args.device)

    def fresh():
        model, tok = load_model(args.model, "auto", args.device)
        return make_trainable(model, cfg.finetune).to(acc.device), tok

    def runner_loop() -> tuple[float, int]:
        model, tok = fresh()
        warm = cfg.replace(**{"optim.max_steps": args.warmup}).optim
        train_stage(model, tok, examples, optim=warm, prompt=cfg.prompt, seed=0, accelerator=acc)
        stats = train_stage(model, tok, examples, optim=cfg.optim, prompt=cfg.prompt, seed=0, accelerator=acc)
        return stats.seconds, stats.tokens

    def bare_loop() -> tuple[float, int]:
        model, tok = fresh()
        encoded = [training_ids(e, cfg.prompt, tok) for e in examples]
        opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
        model.train()
        bs = args.batch_size

        def step(k: int) -> int:
            batch = {n: v.to(acc.device) for n, v in
                     pad_batch(encoded[(k * bs) % len(encoded):][:bs], tok.pad_token_id).items()}
            model(**batch).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return int(batch["attention_mask"].sum())

        for k in range(args.warmup):
            step(k)
        start, tokens = time.perf_counter(), 0
        for k in range(args.steps):
            tokens += step(k)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start, tokens

    runner_tps, bare_tps = [], []
    for _ in range(args.repeats):
        s, n = bare_loop()
        bare_tps.append(n / s)
        s, n = runner_loop()
        runner_tps.append(n / s)
    best_bare, best_runner = max(bare_tps), max(runner_tps)
    print(f"model={args.model} mode={args.mode} device={args.device} threads={args.threads} "
          f"batch={args.batch_size} steps={args.steps} repeats={args.repeats} (best of repeats)")
    print(f"bare torch loop : {best_bare:10.1f} tokens/s")
    print(f"inscl runner    : {best_runner:10.1f} tokens/s")
    print(f"ratio runner/bare: {best_runner / best_bare:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
