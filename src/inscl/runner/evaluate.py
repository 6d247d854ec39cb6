"""Evaluation: greedy generation on held-out test examples, scored with ROUGE-L.

Prompts are sorted by length and batched with LEFT padding (so every prompt ends where
generation starts); generation is greedy with the KV cache, a row stops at EOS and a
batch stops when every row has, and only the new tokens are decoded. The new-token
budget of a task comes from its references (:func:`new_token_budget`): a classification
task answered by one label generates a few tokens, not ``max_new_tokens``. The score of
an example is the configured metric (:mod:`inscl.runner.scoring`; default SuperNI's
official stemmed ROUGE-L, best over all references); a task's score is the mean over its
test examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from inscl.data.task import Example
from inscl.runner.config import PromptConfig
from inscl.runner.prompts import prompt_ids
from inscl.runner.scoring import DEFAULT_METRIC, make_scorer


def new_token_budget(examples: Sequence[Example], tokenizer: Any, cap: int, margin: float = 0.25) -> int:
    """Tokens to generate for a task: its longest reference (every reference of every example,
    tokenised) times ``1 + margin``, rounded up, plus one for EOS; at most ``cap``."""
    refs = [r for e in examples for r in e.all_references()]
    if not refs:
        return cap
    longest = max(len(tokenizer(r.strip(), add_special_tokens=False)["input_ids"]) for r in refs)
    return max(1, min(cap, math.ceil(longest * (1.0 + margin)) + 1))


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a generation: the tokenizer's EOS (what training appends) and the model's."""
    ids = [tokenizer.eos_token_id]
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids += list(extra) if isinstance(extra, (list, tuple)) else [extra]
    return list(dict.fromkeys(i for i in ids if i is not None))


def generate(model: Any, tokenizer: Any, examples: Sequence[Example], *, prompt: PromptConfig,
             max_new_tokens: int, batch_size: int, device: Any = None, progress: bool = False,
             desc: str = "generate") -> list[str]:
    """Greedy completions of the examples' prompts (new tokens only, special tokens dropped)."""
    return generate_counted(model, tokenizer, examples, prompt=prompt, max_new_tokens=max_new_tokens,
                            batch_size=batch_size, device=device, progress=progress, desc=desc)[0]


def generate_counted(model: Any, tokenizer: Any, examples: Sequence[Example], *, prompt: PromptConfig,
                     max_new_tokens: int, batch_size: int, device: Any = None, progress: bool = False,
                     desc: str = "generate") -> tuple[list[str], list[int]]:
    """:func:`generate` plus, per example, the number of tokens generated up to and including EOS."""
    import torch
    from tqdm.auto import tqdm

    device = device if device is not None else next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    encoded = [prompt_ids(e, prompt, tokenizer) for e in examples]
    # Sort by length so batches waste little padding; results go back in input order.
    order = sorted(range(len(encoded)), key=lambda k: len(encoded[k]))
    out: list[str] = [""] * len(encoded)
    counts: list[int] = [0] * len(encoded)
    stop = eos_ids(model, tokenizer)
    model.eval()
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            idx = order[start: start + batch_size]
            width = max(len(encoded[k]) for k in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, k in enumerate(idx):
                x = encoded[k]
                ids[row, width - len(x):] = torch.tensor(x)
                mask[row, width - len(x):] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=stop,
                                 use_cache=True)
            for row, k in enumerate(idx):
                new = gen[row, width:].tolist()
                end = next((j for j, tok in enumerate(new) if tok in stop), None)
                counts[k] = len(new) if end is None else end + 1
                out[k] = tokenizer.decode(new[: counts[k]], skip_special_tokens=True).strip()
    return out, counts


def evaluate_task(model: Any, tokenizer: Any, task: str, examples: Sequence[Example], *, prompt: PromptConfig,
                  max_new_tokens: int, batch_size: int, progress: bool = False,
                  metric: str = DEFAULT_METRIC) -> tuple[float, list[dict[str, Any]]]:
    """``(mean score, generation records)`` for one task's test examples (``rougeL``: the ``metric``)."""
    predictions, counts = generate_counted(model, tokenizer, examples, prompt=prompt,
                                           max_new_tokens=max_new_tokens, batch_size=batch_size,
                                           progress=progress, desc=f"eval {task}")
    scorer = make_scorer(metric)
    records = [{"task": task, "id": e.id, "prediction": p, "reference": e.output,
                "references": list(e.all_references()),
                "rougeL": scorer.score(p, e.all_references())} for e, p in zip(examples, predictions)]
    for r, n in zip(records, counts):
        r["new_tokens"] = n
    score = sum(r["rougeL"] for r in records) / len(records) if records else 0.0
    return score, records
