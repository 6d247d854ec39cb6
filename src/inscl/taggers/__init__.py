"""Intention taggers: ``tag(instructions) -> {instruction: [tags]}``.

:func:`make_tagger` builds one from a spec string (the CLI's ``--tagger``):

* ``offline`` — key-phrase tags without an LLM, ranked with the hashing encoder (default);
  ``offline:ENCODER`` ranks with another encoder spec (e.g. ``offline:minilm``)
* ``openai:MODEL`` — any OpenAI-compatible chat-completions endpoint; base URL from
  ``base_url`` / ``INSCL_OPENAI_BASE_URL`` / ``OPENAI_BASE_URL``, key from ``OPENAI_API_KEY``
* ``local:PATH`` — a local transformers causal LM folder with the same prompt
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from inscl.errors import InputError
from inscl.taggers.base import Tagger
from inscl.taggers.cache import CachedTagger, TagCache, read_tags_jsonl
from inscl.taggers.result import TagResult

TAGGER_SPECS = ("offline", "offline:ENCODER", "openai:MODEL", "local:PATH")
DEFAULT_TAGGER = "offline"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def _options_for(cls: type, options: dict[str, Any], spec: str) -> dict[str, Any]:
    """``options`` that ``cls`` accepts (None values dropped); unknown ones are an error."""
    params = inspect.signature(cls.__init__).parameters
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise InputError(f"tagger {spec!r} does not take option(s) {', '.join(unknown)}", field="tagger")
    return options


def make_tagger(spec: str = DEFAULT_TAGGER, cache_dir: Path | None = None, progress: bool | None = None,
                **options: Any) -> Tagger:
    """Builds the tagger named by ``spec``; with ``cache_dir`` it is a :class:`CachedTagger`
    (append-only JSONL, resumable). ``options`` go to the tagger's constructor (e.g.
    ``base_url``, ``concurrency``, ``timeout``, ``max_retries`` for ``openai:``;
    ``device``, ``max_new_tokens`` for ``local:``; ``top_k`` for ``offline``); None
    values mean "default". Raises :class:`InputError` for an unknown spec or option.
    """
    spec = (spec or "").strip()
    inner: Any
    if spec == "offline" or (spec.startswith("offline:") and spec[8:]):
        from inscl.taggers.offline import OfflineTagger

        opts = dict(options)
        encoder = opts.pop("encoder", None)
        if encoder is None and spec.startswith("offline:"):
            from inscl.encoders import make_encoder

            # the same cache as `inscl embed`
            encoder = make_encoder(spec[8:], cache_dir=cache_dir, progress=False)
        inner = OfflineTagger(encoder=encoder, **_options_for(OfflineTagger, opts, spec))
    elif spec.startswith("openai:") and spec[7:]:
        from inscl.taggers.openai import OpenAITagger

        opts = dict(options)
        base_url = (opts.pop("base_url", None) or os.environ.get("INSCL_OPENAI_BASE_URL")
                    or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL)
        api_key = opts.pop("api_key", None) or os.environ.get("OPENAI_API_KEY")
        inner = OpenAITagger(spec[7:], base_url, api_key, **_options_for(OpenAITagger, opts, spec))
    elif spec.startswith("local:") and spec[6:]:
        from inscl.taggers.local import LocalLLMTagger

        inner = LocalLLMTagger(Path(spec[6:]).expanduser(),
                               **_options_for(LocalLLMTagger, dict(options), spec))
    else:
        raise InputError(f"unknown tagger {spec!r}; valid: {', '.join(TAGGER_SPECS)}", field="tagger")
    if cache_dir is not None:
        return CachedTagger(inner, cache_dir, progress=progress)
    return inner


__all__ = [
    "DEFAULT_TAGGER",
    "TAGGER_SPECS",
    "CachedTagger",
    "TagCache",
    "TagResult",
    "Tagger",
    "make_tagger",
    "read_tags_jsonl",
]
