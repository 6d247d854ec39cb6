"""The encoder interface shared by the planner, the tag clusterer and the runner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to a float32 matrix of shape ``(len(texts), dim)``.

    ``id`` names the model and its settings; caches key on ``(id, text hash)``.
    Implementations must be deterministic for a given ``id``.
    """

    id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...
