"""The outcome of tagging one instruction, as streamed by the taggers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TagResult:
    """Tags of one instruction, or the error that prevented them.

    ``tags`` is None exactly when tagging failed; ``attempts`` counts the requests
    (or generations) spent on this instruction.
    """

    instruction: str
    tags: list[str] | None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.tags is not None
