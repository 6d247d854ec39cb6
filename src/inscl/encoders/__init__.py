"""Instruction encoders: ``encode(texts) -> float32 array (n, d)``.

The planner only relies on :class:`Encoder`; :func:`make_encoder` builds one from a
spec string (the CLI's ``--encoder``):

* ``hashing`` — hashed word/char n-grams, no model, deterministic (:mod:`.hashing`)
* ``minilm`` — the packaged all-MiniLM-L6-v2 sentence model (default)
* ``st:PATH`` — any local sentence-transformers folder
* ``causal:PATH`` — mean-pooled hidden states of any local transformers causal LM
"""

from __future__ import annotations

from pathlib import Path

from inscl.encoders.base import Encoder
from inscl.encoders.cache import CachedEncoder, EmbeddingCache
from inscl.encoders.hashing import HashingEncoder
from inscl.errors import InputError

ENCODER_SPECS = ("hashing", "minilm", "st:PATH", "causal:PATH")
DEFAULT_ENCODER = "minilm"


def make_encoder(spec: str = DEFAULT_ENCODER, cache_dir: Path | None = None, device: str | None = None,
                 batch_size: int = 64, progress: bool | None = None) -> Encoder:
    """Builds the encoder named by ``spec``; with ``cache_dir`` it is wrapped in a
    :class:`CachedEncoder` (except ``hashing``, which is cheaper than a cache lookup).

    Raises :class:`InputError` for an unknown spec or a missing model folder.
    """
    spec = (spec or "").strip()
    encoder: Encoder
    if spec == "hashing":
        return HashingEncoder()
    if spec == "minilm":
        from inscl.encoders.sentence import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder(None, device=device, batch_size=batch_size)
    elif spec.startswith("st:") and spec[3:]:
        from inscl.encoders.sentence import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder(Path(spec[3:]).expanduser(), device=device,
                                             batch_size=batch_size)
    elif spec.startswith("causal:") and spec[7:]:
        from inscl.encoders.causal import CausalLMEncoder

        encoder = CausalLMEncoder(Path(spec[7:]).expanduser(), device=device, batch_size=batch_size)
    else:
        raise InputError(f"unknown encoder {spec!r}; valid: {', '.join(ENCODER_SPECS)}", field="encoder")
    if cache_dir is not None:
        return CachedEncoder(encoder, cache_dir, batch_size=batch_size, progress=progress)
    return encoder


__all__ = [
    "DEFAULT_ENCODER",
    "ENCODER_SPECS",
    "CachedEncoder",
    "EmbeddingCache",
    "Encoder",
    "HashingEncoder",
    "make_encoder",
]
