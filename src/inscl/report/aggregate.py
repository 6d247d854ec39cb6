"""Grouping runs by strategy and averaging them over seeds (the numbers behind figures and tables).

Metrics are taken as the runner wrote them in ``results.json``; only the average score
per stage is recomputed from ``R`` when a file lacks it (it is the mean of the row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inscl.errors import InputError
from inscl.report.results import RunResult


@dataclass
class StrategySummary:
    """All runs of one strategy label, with per-run curves stacked as ``(n_runs, T)`` arrays.

    Runs are keyed by ``(order, seed)`` and sorted by it; ``order`` is the first task order.
    Per-stage curves are averaged over every run, per-task values by task name, and
    :attr:`R_mean` only over the runs of ``order`` (rows of other orders are other tasks).
    """

    label: str
    strategy: str
    order: list[str]
    runs: list[RunResult]
    avg_score: np.ndarray                  # (S, T), nan where missing
    relative_gain: np.ndarray | None       # (S, T) or None when no run has it
    final_rg: np.ndarray                   # (S,)
    bwt: np.ndarray                        # (S,)
    forgetting: dict[str, np.ndarray] = field(default_factory=dict)          # task -> (S,)
    forgetting_analysis: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> (S,)

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def orders(self) -> list[list[str]]:
        """The distinct task orders of the runs, first-seen first."""
        return [list(o) for o in dict.fromkeys(tuple(r.order) for r in self.runs)]

    @property
    def R_mean(self) -> np.ndarray:
        """Score matrix averaged over the seeds of :attr:`order` (``nan`` where not evaluated)."""
        stack = np.stack([r.R for r in self.runs if r.order == self.order])
        seen = ~np.isnan(stack)
        total = np.where(seen, stack, 0.0).sum(axis=0)
        count = seen.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _curve(values: Any, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if isinstance(values, list):
        for i, v in enumerate(values[:n]):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[i] = float(v)
    return out


def _scalar(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def row_means(R: np.ndarray) -> np.ndarray:
    """Average score per stage: mean of ``R[t, :t+1]`` (the tasks seen so far)."""
    return np.array([np.nanmean(R[t, : t + 1]) if np.any(~np.isnan(R[t, : t + 1])) else np.nan
                     for t in range(R.shape[0])])


# Baselines first, InsCL last (the paper's table order) when the config does not say.
STRATEGY_ORDER = ("none", "random", "multitask", "prototype-data", "prototype-instruction", "diverse-instruction",
                  "dynamic", "insinfo", "inscl")


def _strategy_rank(r: RunResult) -> tuple[int, str]:
    """Position in the run's configured strategy list, else in :data:`STRATEGY_ORDER`."""
    configured = (r.config.get("replay") or {}).get("strategies") if isinstance(r.config, dict) else None
    order = list(configured) if isinstance(configured, list) else list(STRATEGY_ORDER)
    order += [s for s in STRATEGY_ORDER if s not in order]
    return (order.index(r.strategy) if r.strategy in order else len(order), r.label)


def summarize(results: Sequence[RunResult]) -> list[StrategySummary]:
    """One :class:`StrategySummary` per label (configured strategy order), seeds sorted."""
    groups: dict[str, list[RunResult]] = {}
    for r in sorted(results, key=_strategy_rank):
        groups.setdefault(r.label, []).append(r)
    summaries = []
    for label, runs in groups.items():
        runs = sorted(runs, key=lambda r: (r.order, r.seed))  # keyed by (order, seed) like the pairing
        order = runs[0].order
        for r in runs[1:]:
            if sorted(r.order) != sorted(order):
                raise InputError(f"other tasks than {runs[0].path} (same strategy {label!r})",
                                 path=r.path, field="order")
        n = len(order)
        avg = np.stack([_curve(r.metrics.get("avg_score"), n) for r in runs])
        for s, r in enumerate(runs):
            if np.all(np.isnan(avg[s])):
                avg[s] = row_means(r.R)
        has_rg = any(isinstance(r.metrics.get("relative_gain"), list) for r in runs)
        rg = np.stack([_curve(r.metrics.get("relative_gain"), n) for r in runs]) if has_rg else None
        final_rg = np.array([_scalar(r.metrics.get("final_rg")) for r in runs])
        if rg is not None:
            # final_rg defaults to the last stage's relative gain when the file omits it
            final_rg = np.where(np.isnan(final_rg), rg[:, -1], final_rg)
        forgetting: dict[str, np.ndarray] = {}
        for task in order:
            values = np.array([_scalar((r.metrics.get("forgetting") or {}).get(task)) for r in runs])
            if not np.all(np.isnan(values)):
                forgetting[task] = values
        analysis: dict[str, np.ndarray] = {}
        for kind in ("instruction_related", "instruction_unrelated"):
            values = np.array([_scalar((r.metrics.get("forgetting_analysis") or {}).get(kind)) for r in runs])
            if not np.all(np.isnan(values)):
                analysis[kind] = values
        summaries.append(StrategySummary(
            label=label, strategy=runs[0].strategy, order=order, runs=runs, avg_score=avg,
            relative_gain=rg, final_rg=final_rg,
            bwt=np.array([_scalar(r.metrics.get("bwt")) for r in runs]),
            forgetting=forgetting, forgetting_analysis=analysis))
    return summaries


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation ignoring ``nan``; ``(nan, nan)`` if all are missing."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std())
