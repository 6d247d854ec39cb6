"""Evaluation: greedy generation on held-out test examples, scored with ROUGE-L.

Prompts are batched with LEFT padding (so every prompt ends where generation starts);
only the new tokens are decoded. The score of an example is the configured metric
(:mod:`inscl.runner.scoring`; default SuperNI's official stemmed ROUGE-L, best over all
references); a task's score is the mean over its test examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inscl.data.task import Example
from inscl.runner.config import PromptConfig
from inscl.runner.prompts import prompt_ids
from inscl.runner.scoring import DEFAULT_METRIC, make_scorer


def generate(model: Any, tokenizer: Any, examples: Sequence[Example], *, prompt: PromptConfig,
             max_new_tokens: int, batch_size: int, device: Any = None, progress: bool = False,
             desc: str = "generate") -> list[str]:
    """Greedy completions of the examples' prompts (new tokens only, special tokens dropped)."""
    import torch
    from tqdm.auto import tqdm

    device = device if device is not None else next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    encoded = [prompt_ids(e, prompt, tokenizer) for e in examples]
    # Sort by length so batches waste little padding; results go back in input order.
    order = sorted(range(len(encoded)), key=lambda k: len(encoded[k]))
    out: list[str] = [""] * len(encoded)
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
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                 eos_token_id=tokenizer.eos_token_id)
            for row, k in enumerate(idx):
                out[k] = tokenizer.decode(gen[row, width:], skip_special_tokens=True).strip()
    return out


def evaluate_task(model: Any, tokenizer: Any, task: str, examples: Sequence[Example], *, prompt: PromptConfig,
                  max_new_tokens: int, batch_size: int, progress: bool = False,
                  metric: str = DEFAULT_METRIC) -> tuple[float, list[dict[str, Any]]]:
    """``(mean score, generation records)`` for one task's test examples (``rougeL``: the ``metric``)."""
    predictions = generate(model, tokenizer, examples, prompt=prompt, max_new_tokens=max_new_tokens,
                           batch_size=batch_size, progress=progress, desc=f"eval {task}")
    scorer = make_scorer(metric)
    records = [{"task": task, "id": e.id, "prediction": p, "reference": e.output,
                "references": list(e.all_references()),
                "rougeL": scorer.score(p, e.all_references())} for e, p in zip(examples, predictions)]
    score = sum(r["rougeL"] for r in records) / len(records) if records else 0.0
    return score, records
