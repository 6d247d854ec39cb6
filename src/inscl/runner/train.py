"""One training stage: a plain torch loop driven by :class:`accelerate.Accelerator`.

The loss is on response tokens only (prompt and padding labels are -100). Each stage
starts a fresh AdamW optimiser and schedule (cosine with warm-up by default); the data
order and dropout are seeded from ``(seed, stage)`` only, so a resumed run repeats an
uninterrupted one exactly.

Every example of the stage mixture (task + replay) is trained on, ``epochs`` times
(:func:`plan_mixture`). ``max_steps`` is a cap, never a silent cut: when the epochs would
need more steps, the mixture is first subsampled uniformly (seeded) to what the capped
steps cover in ``epochs`` epochs, and a warning says so. Under ``accelerate launch`` the same code trains data-parallel
on several GPUs; bf16 autocast is used on CUDA when the GPU supports it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inscl.data.task import Example
from inscl.runner.config import FinetuneConfig, OptimConfig, PromptConfig
from inscl.runner.prompts import pad_batch, training_ids

log = logging.getLogger(__name__)

_ACCELERATOR: Any = None


def get_accelerator(device: str) -> Any:
    """The process-wide Accelerator (accelerate keeps global state, so one per process)."""
    global _ACCELERATOR
    if _ACCELERATOR is None:
        import torch
        from accelerate import Accelerator

        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        bf16 = cuda and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        _ACCELERATOR = Accelerator(cpu=not cuda, mixed_precision="bf16" if bf16 else "no")
    return _ACCELERATOR


def release(accelerator: Any) -> None:
    """Drops accelerate's references to a finished stage's model and optimiser.

    ``Accelerator.free_memory`` does the same plus a full ``gc.collect`` (~1 s per call on a
    busy CPU), which only pays off when there is a GPU cache to empty.
    """
    import torch

    if torch.cuda.is_available():
        accelerator.free_memory()
        return
    for name in ("_models", "_optimizers", "_schedulers", "_dataloaders"):
        held = getattr(accelerator, name, None)
        if isinstance(held, list):
            held.clear()


def stage_seed(seed: int, stage: int) -> int:
    """A seed derived from (run seed, stage) alone."""
    import numpy as np

    return int(np.random.SeedSequence([seed, stage]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def make_trainable(model: Any, finetune: FinetuneConfig, adapter_dir: str | None = None) -> Any:
    """Wraps ``model`` with a LoRA adapter (new, or loaded trainable from ``adapter_dir``);
    in full mode every parameter is trained."""
    if finetune.mode == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    import warnings

    from peft import LoraConfig, PeftModel, get_peft_model

    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", category=FutureWarning)
        if adapter_dir is not None:
            return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
        config = LoraConfig(r=finetune.lora_r, lora_alpha=finetune.lora_alpha,
                            lora_dropout=finetune.lora_dropout, target_modules=list(finetune.target_modules),
                            task_type="CAUSAL_LM")
        try:
            return get_peft_model(model, config)
        except ValueError as exc:  # e.g. target modules that the model does not have
            from inscl.errors import ConfigError

            raise ConfigError(str(exc).splitlines()[0], field="finetune.target_modules") from None


def make_schedule(optimizer: Any, kind: str, warmup: int, total: int) -> Any:
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total)
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total)
    return get_constant_schedule_with_warmup(optimizer, warmup)


def count_steps(n_examples: int, optim: OptimConfig, world: int = 1) -> int:
    """Optimiser steps of ``epochs`` over ``n_examples`` (the last batch of an epoch may be short),
    at most ``max_steps`` (see :func:`plan_mixture` for what a cap does to the data)."""
    per_epoch = math.ceil(n_examples / (optim.batch_size * optim.grad_accum * world))
    steps = max(1, math.ceil(per_epoch * optim.epochs))
    return steps if optim.max_steps is None else min(steps, optim.max_steps)


@dataclass(frozen=True)
class MixturePlan:
    """Which examples of a stage mixture are trained on, and for how many steps."""

    keep: list[int]  # indices into the mixture, in mixture order; all of them unless subsampled
    steps: int
    mixture: int  # size of the mixture before any subsampling

    @property
    def subsampled(self) -> bool:
        return len(self.keep) < self.mixture


def plan_mixture(n_examples: int, optim: OptimConfig, seed: int, world: int = 1) -> MixturePlan:
    """The examples and steps of a stage.

    Without a cap (or when ``epochs`` fit under it) every example is kept. When
    ``epochs`` over the mixture need more than ``max_steps`` steps, a uniform random
    subset (seeded by ``seed``) of ``max(1, floor(max_steps * batch / epochs))``
    examples is kept, so the capped steps still run ``epochs`` full passes over
    it: the cut is the same for task and replay examples in expectation, and never
    "the first N in shuffled order" of a single pass.
    """
    import random

    if n_examples < 1:
        raise ValueError("a stage needs at least one training example")
    full = count_steps(n_examples, dataclasses.replace(optim, max_steps=None), world)
    if optim.max_steps is None or full <= optim.max_steps:
        return MixturePlan(list(range(n_examples)), full, n_examples)
    batch = optim.batch_size * optim.grad_accum * world
    m = max(1, min(n_examples, math.floor(optim.max_steps * batch / optim.epochs)))
    keep = sorted(random.Random(f"mixture:{seed}").sample(range(n_examples), m))
    return MixturePlan(keep, count_steps(m, optim, world), n_examples)


@dataclass
class StageStats:
    steps: int
    examples: int
    tokens: int  # non-padding tokens seen (prompt + response)
    seconds: float
    final_loss: float
    mixture: int = 0  # examples in the stage mixture before any subsampling (0: same as examples)

    def to_dict(self) -> dict[str, float]:
        return {"steps": self.steps, "examples": self.examples, "mixture": self.mixture or self.examples,
                "subsampled": bool(self.mixture) and self.mixture > self.examples, "tokens": self.tokens,
                "train_s": round(self.seconds, 3), "final_loss": self.final_loss,
                "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds > 0 else None}


def train_stage(model: Any, tokenizer: Any, examples: Sequence[Example], *, optim: OptimConfig,
                prompt: PromptConfig, seed: int, accelerator: Any, progress: bool = False,
                desc: str = "train") -> StageStats:
    """Trains ``model`` in place on ``examples`` (shuffled with ``seed``); returns the stage stats."""
    import torch
    from tqdm.auto import tqdm

    if not examples:
        raise ValueError("a stage needs at least one training example")
    seed_everything(seed)
    micro_per_step = optim.grad_accum
    world = accelerator.num_processes
    mix = plan_mixture(len(examples), optim, seed, world)
    if mix.subsampled:
        log.warning("%s: max_steps=%d caps %g epoch(s) of the %d-example mixture; trained on a uniform random "
                    "subset of %d examples (%d steps)", desc, optim.max_steps, optim.epochs, mix.mixture,
                    len(mix.keep), mix.steps)
    encoded = [training_ids(examples[i], prompt, tokenizer) for i in mix.keep]
    total = mix.steps
    # The example order: epochs of seeded permutations, cut into micro-batches; every epoch is a
    # full permutation, so each kept example is seen floor(epochs) or ceil(epochs) times.
    g = torch.Generator().manual_seed(seed)
    needed = total * micro_per_step * optim.batch_size * world
    order: list[int] = []
    while len(order) < needed:
        order.extend(torch.randperm(len(encoded), generator=g).tolist())
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": optim.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=optim.lr)
    scheduler = make_schedule(optimizer, optim.schedule, math.ceil(optim.warmup_ratio * total), total)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    pad_id = tokenizer.pad_token_id
    rank, bs = accelerator.process_index, optim.batch_size
    tokens, last_loss = 0, float("nan")
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress or not accelerator.is_local_main_process,
               leave=False, dynamic_ncols=True)
    cursor = 0
    for _step in range(total):
        step_loss = 0.0
        for _ in range(micro_per_step):
            chunk = order[cursor: cursor + bs * world]
            cursor += bs * world
            mine = chunk[rank * bs: (rank + 1) * bs]
            batch = {k: v.to(accelerator.device) for k, v in pad_batch([encoded[i] for i in mine], pad_id).items()}
            tokens += int(batch["attention_mask"].sum()) * world
            with accelerator.autocast():
                loss = model(**batch).loss / micro_per_step
            accelerator.backward(loss)
            step_loss += float(loss.detach())
        accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        last_loss = step_loss
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    model.eval()
    accelerator.wait_for_everyone()
    release(accelerator)
    return StageStats(total, len(encoded), tokens, seconds, last_loss, mix.mixture)
