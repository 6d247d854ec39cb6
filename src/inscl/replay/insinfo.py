"""InsInfo: how much intention information an instruction's tags carry.

Over a set of N instructions (at stage t: the instructions of tasks 1..t), a tag
carried by f of them is worth ``log(N / f)`` (an IDF); an instruction's InsInfo is the
sum over its distinct tags. Rare, specific intentions score high; an instruction
without tags scores 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction

__all__ = ["InsInfoLogArguments", "insinfo_log_arguments", "insinfo_scores"]


def insinfo_scores(instruction_tags: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """``{instruction: sum over its distinct tags of log(N / f_tag)}``, in the given order.

    ``N`` is the number of instructions given and ``f_tag`` how many of them carry
    the tag (a tag repeated within one instruction counts once).
    """
    distinct: dict[str, list[str]] = {}
    for instruction, tags in instruction_tags.items():
        if isinstance(tags, str):
            raise TypeError(f"tags of instruction {instruction[:60]!r} must be a list of strings, got a string")
        distinct[instruction] = list(dict.fromkeys(str(t) for t in tags))
    n = len(distinct)
    frequency = Counter(t for tags in distinct.values() for t in tags)
    idf = {t: math.log(n / f) for t, f in frequency.items()}
    # math.fsum: the score does not depend on the order the tags are listed in.
    return {s: math.fsum(idf[t] for t in tags) for s, tags in distinct.items()}


class InsInfoLogArguments(Mapping[str, Fraction]):
    """``{instruction: r}`` with ``InsInfo = log(r)`` exactly: ``r = prod over distinct tags of N / f_tag``.

    The exact form of :func:`insinfo_scores` (same ``N`` and frequencies), computed on
    access: Algorithm 1 needs it only for the rare shares that lie next to an integer
    (see :func:`inscl.replay.selectors.floor_shares`). ``frequency`` may pass the tag
    frequencies when they are already counted.
    """

    def __init__(self, instruction_tags: Mapping[str, Sequence[str]],
                 frequency: Mapping[str, int] | None = None) -> None:
        self._tags = instruction_tags
        self._n = len(instruction_tags)
        self._frequency = frequency if frequency is not None else Counter(
            t for tags in instruction_tags.values() for t in dict.fromkeys(str(g) for g in tags))

    def __getitem__(self, instruction: str) -> Fraction:
        r = Fraction(1)
        for t in dict.fromkeys(str(g) for g in self._tags[instruction]):
            r *= Fraction(self._n, self._frequency[t])
        return r

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return self._n


def insinfo_log_arguments(instruction_tags: Mapping[str, Sequence[str]]) -> dict[str, Fraction]:
    """Every entry of :class:`InsInfoLogArguments` as a dict."""
    return dict(InsInfoLogArguments(instruction_tags))
