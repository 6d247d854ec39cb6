"""Encoders: the packaged sentence model, a tiny random causal LM, the hashing encoder and the cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from inscl.encoders import CachedEncoder, Encoder, HashingEncoder, make_encoder
from inscl.errors import InputError

TEXTS = ["Translate the sentence from English to French.",
         "Classify the sentiment of the movie review as positive or negative.",
         "Write a short poem about the sea."]


def make_tiny_llama(path: Path) -> Path:
    """A randomly initialised 2-layer Llama with a byte-level tokenizer (no download)."""
    from inscl.runner.models import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tiny_model(tok, hidden=32).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_packaged_sentence_model_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = make_encoder("minilm")
    assert isinstance(enc, Encoder) and enc.id.startswith("st:minilm")
    v = enc.encode(["A man is playing a guitar.", "Someone plays an acoustic guitar.",
                    "The stock market fell sharply today.", "How do I bake sourdough bread?"])
    assert v.dtype == np.float32 and v.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    similar = cos(v[0], v[1])
    assert similar > cos(v[0], v[2]) + 0.2 and similar > cos(v[0], v[3]) + 0.2
    assert enc.encode([]).shape == (0, 384)


def test_causal_lm_encoder_shapes_determinism_padding(tiny_llama: Path) -> None:
    from inscl.encoders.causal import CausalLMEncoder

    enc = make_encoder(f"causal:{tiny_llama}", device="cpu", batch_size=4)
    texts = ["short", "a much longer instruction that needs padding in a batch", "mid length text"]
    batch = enc.encode(texts)
    assert batch.dtype == np.float32 and batch.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    # padding-invariance: each text alone (no padding) equals its row in the padded batch
    for i, text in enumerate(texts):
        np.testing.assert_allclose(enc.encode([text])[0], batch[i], atol=1e-5)
    # determinism across instances; batch size does not matter
    other = CausalLMEncoder(tiny_llama, device="cpu", batch_size=1)
    assert other.id == enc.id
    np.testing.assert_allclose(other.encode(texts), batch, atol=1e-5)
    assert not np.allclose(batch[0], batch[1])


def test_hashing_encoder_deterministic() -> None:
    a, b = HashingEncoder(), HashingEncoder()
    assert a.id == b.id and "dim=2048" in a.id
    va = a.encode(TEXTS)
    np.testing.assert_array_equal(va, b.encode(TEXTS))
    # a text's vector does not depend on the other texts of the call
    np.testing.assert_array_equal(va[1], a.encode([TEXTS[1]])[0])
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, atol=1e-6)
    assert va.dtype == np.float32
    near = a.encode(["Translate this sentence into French."])[0]
    assert cos(near, va[0]) > cos(near, va[1])
    small = HashingEncoder(dim=64)
    assert small.encode(TEXTS).shape == (3, 64) and small.id != a.id
    assert a.encode([]).shape == (0, 2048)


class CountingEncoder:
    """Delegates to a real encoder and records every text it is asked to encode."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.id = inner.id
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts)


def test_cache_encodes_only_missing_and_persists(tmp_path: Path) -> None:
    inner = CountingEncoder(HashingEncoder())
    cached = CachedEncoder(inner, tmp_path, batch_size=2, progress=False)
    first = cached.encode(TEXTS + [TEXTS[0]])
    assert sorted(inner.seen) == sorted(TEXTS)  # the duplicate is encoded once
    np.testing.assert_array_equal(first, HashingEncoder().encode(TEXTS + [TEXTS[0]]))

    inner.seen.clear()
    np.testing.assert_array_equal(cached.encode(TEXTS), first[:3])
    assert inner.seen == []

    # a new instance on the same folder: persisted, only the new text is encoded
    inner2 = CountingEncoder(HashingEncoder())
    cached2 = CachedEncoder(inner2, tmp_path, progress=False)
    out = cached2.encode(["a brand new text", TEXTS[2]])
    assert inner2.seen == ["a brand new text"]
    np.testing.assert_array_equal(out[1], first[2])
    assert len(cached2.cache) == 4

    # another encoder id gets its own store
    other = CountingEncoder(HashingEncoder(dim=64))
    assert CachedEncoder(other, tmp_path, progress=False).encode(TEXTS).shape == (3, 64)
    assert len(other.seen) == 3


def test_cached_sentence_encoder_via_factory(tmp_path: Path) -> None:
    enc = make_encoder("minilm", cache_dir=tmp_path, progress=False)
    assert isinstance(enc, CachedEncoder)
    v = enc.encode(TEXTS)
    assert len(list(tmp_path.glob("*.sqlite"))) == 1
    again = make_encoder("minilm", cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.encode(TEXTS), v)
    assert again.inner._model is None  # served from the cache, the model was never loaded


@pytest.mark.parametrize("spec", ["", "bert", "st:", "causal:", "openai:gpt"])
def test_unknown_encoder_spec(spec: str) -> None:
    with pytest.raises(InputError, match="hashing, minilm, st:PATH, causal:PATH"):
        make_encoder(spec)


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        make_encoder(f"st:{tmp_path / 'nope'}")
    with pytest.raises(InputError, match="not found"):
        make_encoder(f"causal:{tmp_path / 'nope'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="cannot load causal LM"):
        make_encoder(f"causal:{empty}").encode(["x"])
