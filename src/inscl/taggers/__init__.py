"""Intention taggers: ``tag(instructions) -> {instruction: [tags]}`` (issue 3)."""

from inscl.taggers.base import Tagger

__all__ = ["Tagger"]
