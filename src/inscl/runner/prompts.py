"""Turning examples into token ids: the prompt, and the prompt + response for training.

The prompt is ``template.format(instruction=, input=)`` (default
``"{instruction}\\n\\n{input}"``, as in the paper's code), optionally wrapped as one user
turn with the tokenizer's chat template; the response (the output + EOS) follows it (on
a new line for plain templates). Prompts longer than ``max_prompt_tokens`` keep their
head (the instruction) and their tail (the end of the input, just before the answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inscl.data.task import Example
from inscl.runner.config import PromptConfig

IGNORE_INDEX = -100  # label of prompt and padding positions: no loss there


def prompt_text(example: Example, config: PromptConfig, tokenizer: Any) -> str:
    text = config.template.format(instruction=example.instruction, input=example.input).strip()
    if config.use_chat_template:
        if not getattr(tokenizer, "chat_template", None):
            from inscl.errors import ConfigError

            raise ConfigError("the tokenizer has no chat template", field="prompt.use_chat_template")
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                             tokenize=False)
        return text
    return text + "\n"  # the answer starts on its own line


def _clip_prompt(ids: list[int], limit: int) -> list[int]:
    if len(ids) <= limit:
        return ids
    head = limit // 2
    return ids[:head] + ids[len(ids) - (limit - head):]


def prompt_ids(example: Example, config: PromptConfig, tokenizer: Any) -> list[int]:
    ids = tokenizer(prompt_text(example, config, tokenizer), add_special_tokens=False)["input_ids"]
    return _clip_prompt(list(ids), config.max_prompt_tokens)


def training_ids(example: Example, config: PromptConfig, tokenizer: Any) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``: labels are IGNORE_INDEX on the prompt, the response + EOS after it."""
    p = prompt_ids(example, config, tokenizer)
    r = list(tokenizer(example.output.strip(), add_special_tokens=False)["input_ids"])
    r = r[: config.max_target_tokens] + [tokenizer.eos_token_id]
    return p + r, [IGNORE_INDEX] * len(p) + r


def pad_batch(items: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pads a training batch (padding positions get IGNORE_INDEX labels)."""
    import torch

    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for k, (x, y) in enumerate(items):
        ids[k, : len(x)] = torch.tensor(x)
        labels[k, : len(y)] = torch.tensor(y)
        mask[k, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
