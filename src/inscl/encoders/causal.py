"""Mean-pooled hidden states of a local ``transformers`` causal LM as embeddings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from inscl.encoders.sentence import resolve_device
from inscl.errors import InputError

_DTYPES = ("float32", "float16", "bfloat16", "auto")


class CausalLMEncoder:
    """Attention-mask-aware mean of a causal LM's last hidden states, L2-normalised.

    Padding never changes a text's vector: padded positions are masked out of the mean
    and the model gets the matching attention mask (the tokenizer pads on the right,
    so real tokens keep their positions). Loaded lazily from a local folder only.
    """

    def __init__(self, path: str | Path, device: str | None = None, batch_size: int = 16,
                 max_length: int = 256, dtype: str = "float32", normalize: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError("causal LM folder not found", path=self.path, field="encoder")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        if max_length < 1:
            raise InputError(f"max_length must be >= 1, got {max_length}", field="max_length")
        if dtype not in _DTYPES:
            raise InputError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}", field="dtype")
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.normalize = normalize
        self.id = f"causal:{self.path.resolve()}:mean:maxlen={max_length}:{dtype}:norm={int(normalize)}"
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            torch_dtype = "auto" if self.dtype == "auto" else getattr(torch, self.dtype)
            model = AutoModel.from_pretrained(str(self.path), local_files_only=True, dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load causal LM ({exc})", path=self.path, field="encoder") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        tok.padding_side = "right"
        self._device = resolve_device(self.device)
        self._model = model.to(self._device).eval()
        self._tokenizer = tok

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        if self._model is None:
            self._load()
        assert self._model is not None and self._tokenizer is not None
        dim = int(self._model.config.hidden_size)
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(self._device)
            with torch.inference_mode():
                out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            hidden = out.last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            chunks.append(pooled.cpu().numpy().astype(np.float32))
        return np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
