"""The named replay strategies: how quotas are set and which selector fills them.

A strategy is two choices. ``quotas`` says how many examples each previous task gives:
``none`` (no replay), ``fixed`` (``budget`` per previous task), ``dynamic``
(``budget * (t - 1)`` split in proportion to the Wasserstein distance to the current
task) or ``all`` (every example). ``selector`` says which examples fill a task's quota
(see :mod:`inscl.replay.selectors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inscl.errors import InputError

__all__ = ["STRATEGIES", "Strategy", "get_strategy"]

QuotaRule = Literal["none", "fixed", "dynamic", "all"]
SelectorName = Literal["random", "insinfo", "prototype-data", "prototype-instruction", "diverse-instruction", "all"]


@dataclass(frozen=True)
class Strategy:
    """One replay strategy.

    ``needs_embeddings``: instruction (or example) embeddings are used for quotas or
    selection. ``needs_tags``: intention tags are needed (InsInfo).
    """

    name: str
    quotas: QuotaRule
    selector: SelectorName
    needs_embeddings: bool
    needs_tags: bool
    description: str


STRATEGIES: dict[str, Strategy] = {s.name: s for s in [
    Strategy("none", "none", "random", False, False,
             "no replay: sequential fine-tuning (the lower bound); the selector is never used"),
    Strategy("random", "fixed", "random", False, False,
             "budget examples per previous task, drawn uniformly at random"),
    Strategy("inscl", "dynamic", "insinfo", True, True,
             "InsCL: Wasserstein-proportional quotas, filled by InsInfo-guided sampling"),
    Strategy("dynamic", "dynamic", "random", True, False,
             "Wasserstein-proportional quotas, filled at random (ablation without InsInfo)"),
    Strategy("insinfo", "fixed", "insinfo", False, True,
             "budget per previous task, filled by InsInfo-guided sampling (ablation without dynamic replay)"),
    Strategy("prototype-data", "fixed", "prototype-data", True, False,
             "budget per previous task: the examples nearest to k-means centres of example embeddings"),
    Strategy("prototype-instruction", "fixed", "prototype-instruction", True, False,
             "budget per previous task: examples of the instructions nearest to k-means centres"),
    Strategy("diverse-instruction", "fixed", "diverse-instruction", True, False,
             "budget per previous task: examples of the instructions least similar to the current task's"),
    Strategy("multitask", "all", "all", False, False,
             "replay every example of every previous task (the upper bound)"),
]}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; an :class:`InputError` listing the valid names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise InputError(f"unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}",
                         field="strategy") from None
