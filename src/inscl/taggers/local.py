"""Intention tags from a local ``transformers`` causal LM (greedy, batched).

The model is a local folder or a ``.gguf`` file (de-quantised by transformers).
The InsTag prompt goes through the tokenizer's chat template when it has one (a
plain "System/User/Assistant" layout otherwise); the reply is parsed with
:func:`~inscl.taggers.parsing.parse_tags`. A reply without a tag list is a failure
(one attempt: greedy decoding would repeat it), recorded by the caching tagger.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from inscl.encoders.causal import load_causal_lm, model_location
from inscl.errors import ConfigError
from inscl.taggers.parsing import TagParseError, parse_tags
from inscl.taggers.prompt import build_messages, build_plain_prompt
from inscl.taggers.result import TagResult


class LocalLLMTagger:
    """Greedy generation with a local causal LM folder (never the hub)."""

    def __init__(self, path: str | Path, device: str | None = None, max_new_tokens: int = 256,
                 batch_size: int = 8, max_prompt_tokens: int = 2048) -> None:
        self.path = Path(path)
        model_location(self.path, "tagger")  # a folder or a .gguf file; fails early when missing
        if max_new_tokens < 1 or batch_size < 1 or max_prompt_tokens < 1:
            raise ConfigError("max_new_tokens, batch_size and max_prompt_tokens must be >= 1",
                              field="max_new_tokens")
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_prompt_tokens = max_prompt_tokens
        self.id = f"local:{self.path.resolve()}:greedy:max_new={max_new_tokens}"
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        # left padding: generation continues from the right end of every row
        self._model, self._tokenizer, self._device = load_causal_lm(self.path, "tagger", padding_side="left",
                                                                    device=self.device)

    def prompt(self, instruction: str) -> str:
        """The text given to the model for ``instruction``."""
        tok = self._tokenizer
        if tok is not None and getattr(tok, "chat_template", None):
            return tok.apply_chat_template(build_messages(instruction), tokenize=False,
                                           add_generation_prompt=True)
        return build_plain_prompt(instruction)

    def _generate(self, instructions: list[str]) -> list[str]:
        import torch

        assert self._model is not None and self._tokenizer is not None
        tok = self._tokenizer
        batch = tok([self.prompt(s) for s in instructions], return_tensors="pt", padding=True,
                    truncation=True, max_length=self.max_prompt_tokens,
                    add_special_tokens=False).to(self._device)
        with torch.inference_mode():
            out = self._model.generate(**batch, do_sample=False, max_new_tokens=self.max_new_tokens,
                                       pad_token_id=tok.pad_token_id)
        new = out[:, batch["input_ids"].shape[1]:]
        return tok.batch_decode(new, skip_special_tokens=True)

    def tag_iter(self, instructions: Sequence[str]) -> Iterator[TagResult]:
        unique = list(dict.fromkeys(instructions))
        if unique and self._model is None:
            self._load()
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start:start + self.batch_size]
            for s, reply in zip(chunk, self._generate(chunk)):
                try:
                    yield TagResult(s, parse_tags(reply))
                except TagParseError as exc:
                    yield TagResult(s, None, str(exc), attempts=1)

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        return {r.instruction: r.tags or [] for r in self.tag_iter(instructions)}
