"""How many examples each previous task replays: fixed or distance-proportional quotas.

Dynamic quotas give task ``i`` the share ``total * W_i / sum(W)`` of the replay budget,
rounded by the largest-remainder method so the quotas sum to ``total`` exactly, and
capped by what each task has (the surplus goes, again in proportion to ``W``, to the
tasks that still have room). Rounding is deterministic: ties go to the task listed
first, and each task gains at most one example per rounding pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["dynamic_quotas", "fixed_quotas"]


def fixed_quotas(available: Mapping[str, int], per_task: int) -> dict[str, int]:
    """``min(per_task, available[task])`` for every task, in the given order."""
    per_task = _check_count(per_task, "per_task")
    have = _check_available(available)
    return {name: min(per_task, n) for name, n in have.items()}


def dynamic_quotas(distances: Mapping[str, float], available: Mapping[str, int], total: int) -> dict[str, int]:
    """Quotas proportional to ``distances`` that sum to ``min(total, sum(available))``.

    ``distances`` and ``available`` must name the same tasks; the result follows the
    order of ``distances``. If every distance is 0 (identical tasks) the budget is
    shared equally. If ``total >= sum(available)`` every task gives all it has.
    A larger distance never gets a smaller quota unless availability binds.
    """
    total = _check_count(total, "total")
    have = _check_available(available)
    names = list(distances)
    if set(names) != set(have):
        raise ValueError(f"distances and available must name the same tasks, got {sorted(names)} "
                         f"and {sorted(have)}")
    weights = np.empty(len(names), dtype=np.float64)
    for k, name in enumerate(names):
        w = distances[name]
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise ValueError(f"distance of task {name!r} must be a number, got {w!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"distance of task {name!r} must be finite and >= 0, got {w!r}")
        weights[k] = w
    caps = np.array([have[name] for name in names], dtype=np.int64)
    if total >= int(caps.sum()):
        return {name: int(c) for name, c in zip(names, caps)}
    if weights.sum() == 0:
        weights[:] = 1.0  # identical tasks: no task is more dissimilar than another
    quotas = _water_fill(weights, caps, total)
    return {name: int(q) for name, q in zip(names, quotas)}


def _water_fill(weights: np.ndarray, caps: np.ndarray, total: int) -> np.ndarray:
    """Proportional integer allocation of ``total < caps.sum()`` with per-task caps."""
    quotas = np.zeros(len(caps), dtype=np.int64)
    capped = np.zeros(len(caps), dtype=bool)
    while True:
        open_ = ~capped
        remaining = total - int(quotas[capped].sum())
        w = weights[open_]
        # Tasks with room but zero distance still absorb a surplus nobody else can take.
        w = w if w.sum() > 0 else np.ones_like(w)
        ideal = remaining * w / w.sum()
        over = ideal > caps[open_]
        if not over.any():
            quotas[open_] = _largest_remainder(ideal, remaining)
            return quotas
        # Cap every task whose ideal share exceeds what it has, then share the rest again.
        idx = np.flatnonzero(open_)[over]
        quotas[idx] = caps[idx]
        capped[idx] = True


def _largest_remainder(ideal: np.ndarray, total: int) -> np.ndarray:
    """Round ``ideal`` (summing to ``total``) to integers summing to ``total`` exactly.

    Each entry is rounded down, then the entries with the largest remainders (ties by
    position) gain one each -- every entry at most once.
    """
    floors = np.floor(ideal).astype(np.int64)
    missing = total - int(floors.sum())
    if missing > 0:
        remainders = ideal - floors
        order = np.lexsort((np.arange(len(ideal)), -remainders))  # by remainder desc, then position
        floors[order[:missing]] += 1
    return floors


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_available(available: Mapping[str, int]) -> dict[str, int]:
    return {name: _check_count(n, f"available[{name!r}]") for name, n in available.items()}
