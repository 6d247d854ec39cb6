"""InsInfo: how much intention information an instruction's tags carry.

Over a set of N instructions (at stage t: the instructions of tasks 1..t), a tag
carried by f of them is worth ``log(N / f)`` (an IDF); an instruction's InsInfo is the
sum over its distinct tags. Rare, specific intentions score high; an instruction
without tags scores 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

__all__ = ["insinfo_scores"]


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
