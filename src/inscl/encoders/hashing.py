"""A deterministic, model-free encoder: hashed word and character n-gram counts.

The features depend only on the text and the encoder's settings (never on the other
texts of the call), so the same instruction always gets the same vector and vectors
from different calls are comparable. Useful for tests, quick runs and as the ranking
encoder of the offline tagger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inscl.errors import ConfigError


@dataclass(frozen=True)
class HashingEncoderConfig:
    """Settings of :class:`HashingEncoder`; all of them are part of its ``id``."""

    dim: int = 2048
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    char_weight: float = 0.5  # share of the squared norm given to character n-grams

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 16:
            raise ConfigError(f"dim must be an integer >= 16, got {self.dim!r}", field="dim")
        for name in ("word_ngrams", "char_ngrams"):
            lo, hi = getattr(self, name)
            if not (1 <= lo <= hi):
                raise ConfigError(f"{name} must be (lo, hi) with 1 <= lo <= hi, got {(lo, hi)}", field=name)
        if not 0.0 <= self.char_weight <= 1.0:
            raise ConfigError(f"char_weight must be in [0, 1], got {self.char_weight}", field="char_weight")


class HashingEncoder:
    """Word n-gram and character n-gram hashing features, L2-normalised, float32.

    Each block (words, characters) is L2-normalised separately, weighted so that the
    characters carry ``char_weight`` of the squared norm, and the concatenation is
    normalised again. A text without any feature maps to the zero vector.
    """

    def __init__(self, dim: int = 2048, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (3, 5), char_weight: float = 0.5) -> None:
        self.config = HashingEncoderConfig(dim, tuple(word_ngrams), tuple(char_ngrams), char_weight)
        c = self.config
        self.id = (f"hashing:dim={c.dim},words={c.word_ngrams[0]}-{c.word_ngrams[1]},"
                   f"chars={c.char_ngrams[0]}-{c.char_ngrams[1]},charw={c.char_weight:g}")
        self._vectorizers: tuple | None = None  # built on first use: scikit-learn loads only then

    def _build(self) -> tuple:
        if self._vectorizers is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            c = self.config
            n_char = c.dim // 2
            n_word = c.dim - n_char
            common = {"lowercase": True, "alternate_sign": False, "norm": "l2", "dtype": np.float32}
            words = HashingVectorizer(n_features=n_word, analyzer="word", ngram_range=c.word_ngrams,
                                      token_pattern=r"(?u)\b\w+\b", **common)
            chars = HashingVectorizer(n_features=n_char, analyzer="char_wb", ngram_range=c.char_ngrams, **common)
            self._vectorizers = (words, chars)
        return self._vectorizers

    @property
    def dim(self) -> int:
        return self.config.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Returns a float32 array ``(len(texts), dim)`` with unit (or zero) rows."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cw = self.config.char_weight
        vec_words, vec_chars = self._build()
        words = vec_words.transform(texts).toarray() * np.float32(np.sqrt(1.0 - cw))
        chars = vec_chars.transform(texts).toarray() * np.float32(np.sqrt(cw))
        out = np.hstack([words, chars]).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
