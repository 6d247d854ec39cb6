"""The tagger interface used by the planner for InsInfo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Tagger(Protocol):
    """Maps each instruction to its raw intention tags (normalisation happens later)."""

    id: str

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]: ...
