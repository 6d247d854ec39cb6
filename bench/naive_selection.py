"""A naive InsInfo-guided selection, written the way the paper's public code does it.

Baseline for ``bench/plan_speed.py``: Python list scans over all examples for every
instruction, sampling by ``list.remove`` one example at a time, and the total fixed by
repeated passes. It follows the same results contract as
:func:`inscl.replay.selectors.select_insinfo` -- exactly ``min(n, len(task))`` distinct
examples of ``task`` in task order, deterministic given ``rng`` -- and allocates the
same number of examples to every instruction (including the fixes of the paper's
faults: no division by zero, every tied task adjusted once, exact total), so a timing
ratio compares like with like. Only the data structures differ.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from inscl.data.task import Example, Task
from inscl.replay.selectors import floor_shares

__all__ = ["naive_select_insinfo"]


def naive_select_insinfo(task: Task, n: int, scores: Mapping[str, float],
                         rng: np.random.Generator) -> list[Example]:
    """Algorithm 1 with list scans and ``list.remove`` (quadratic in the task size)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    n = min(int(n), len(task.examples))
    if n == 0:
        return []
    # Distinct instructions by scanning the list (first-seen order).
    instructions: list[str] = []
    for e in task.examples:
        if e.instruction not in instructions:
            instructions.append(e.instruction)
    ranked = sorted(instructions, key=lambda s: (-float(scores[s]), instructions.index(s)))
    counts = {s: 0 for s in instructions}
    sizes = {s: len([e for e in task.examples if e.instruction == s]) for s in instructions}
    if n < len(instructions):
        for s in ranked[:n]:
            counts[s] = 1
    else:
        # The same exact rational flooring as the fast selector (not a data-structure question).
        floors = floor_shares([float(scores[s]) for s in instructions], n)
        for s, f in zip(instructions, floors):
            counts[s] = min(max(1, f), sizes[s])
        # Too many: take one at a time from the largest (lowest score, then last seen, first).
        while sum(counts.values()) > n:
            top = max(counts.values())
            tied = [s for s in instructions if counts[s] == top]
            tied.sort(key=lambda s: (float(scores[s]), -instructions.index(s)))
            for s in tied:
                if sum(counts.values()) == n:
                    break
                counts[s] -= 1
        # Too few: one each, by descending score, to instructions with room, round robin.
        while sum(counts.values()) < n:
            for s in ranked:
                if sum(counts.values()) == n:
                    break
                if counts[s] < sizes[s]:
                    counts[s] += 1
    selected: list[Example] = []
    for s in instructions:
        pool = [e for e in task.examples if e.instruction == s]
        for _ in range(counts[s]):
            pick = pool[int(rng.integers(len(pool)))]
            pool.remove(pick)
            selected.append(pick)
    return [e for e in task.examples if e in selected]
