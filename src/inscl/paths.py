"""Where inscl keeps what is expensive to recompute (embeddings, tags, converted models)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "INSCL_CACHE_DIR"


def cache_root() -> Path:
    """``$INSCL_CACHE_DIR`` or ``~/.cache/inscl``: the default cache of every command."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "inscl")
