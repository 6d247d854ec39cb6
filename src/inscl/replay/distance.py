"""Instruction distributions and the Wasserstein-1 distance between two tasks.

A task is a discrete distribution over its distinct instructions: each instruction is
a point (its embedding) weighted by its share of the task's examples (``"real"``) or
equally (``"uniform"``). The distance between two tasks is the Wasserstein-1 distance
between these distributions under the cosine ground cost.

Small problems are solved exactly with POT's network simplex (:func:`ot.emd2`); above
``max_exact`` instructions on either side the entropic estimate (Sinkhorn with epsilon
scaling and log-domain absorption) is used and reported with a rigorous error bound (see
:func:`wasserstein`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import ot

from inscl.data.task import Task

__all__ = ["ConvergenceError", "Wasserstein", "cosine_cost", "instruction_distribution", "wasserstein"]

DistributionMode = Literal["real", "uniform"]
Method = Literal["auto", "exact", "sinkhorn"]

# Weights must sum to 1 up to this tolerance; they are renormalised exactly afterwards.
_SUM_TOL = 1e-6


class ConvergenceError(RuntimeError):
    """The exact solver stopped before reaching an optimal transport plan."""


def instruction_distribution(task: Task, mode: DistributionMode = "real") -> tuple[list[str], np.ndarray]:
    """The task's distinct instructions (first-seen order) and their float64 weights.

    ``mode="real"`` weights each instruction by its share of the task's examples;
    ``mode="uniform"`` weights all distinct instructions equally. Weights sum to 1.
    """
    if mode not in ("real", "uniform"):
        raise ValueError(f"mode must be 'real' or 'uniform', got {mode!r}")
    counts = task.instruction_counts()
    if not counts:
        raise ValueError(f"task {task.name!r} has no examples, so no instruction distribution")
    instructions = list(counts)
    if mode == "uniform":
        weights = np.full(len(instructions), 1.0 / len(instructions))
    else:
        raw = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        weights = raw / raw.sum()
    return instructions, weights


def cosine_cost(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Ground cost ``1 - cos(xa_i, xb_j)`` as a float64 ``(len(xa), len(xb))`` matrix.

    A zero vector has cosine 0 with everything (cost 1) instead of a division by zero.
    Values are clipped to ``[0, 2]`` to remove rounding noise.
    """
    xa = _as_matrix(xa, "xa")
    xb = _as_matrix(xb, "xb")
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"xa and xb must have the same dimension, got {xa.shape[1]} and {xb.shape[1]}")
    ua = _unit_rows(xa)
    ub = _unit_rows(xb)
    cost = 1.0 - ua @ ub.T
    return np.clip(cost, 0.0, 2.0, out=cost)


@dataclass(frozen=True)
class Wasserstein:
    """A Wasserstein-1 estimate.

    ``value`` is the transport cost; ``method`` says how it was computed;
    ``error_bound`` is ``None`` for the exact solver and otherwise a bound ``B`` with
    ``0 <= value - W1 <= B`` (see :func:`wasserstein`).
    """

    value: float
    method: Literal["exact", "sinkhorn"]
    error_bound: float | None


def wasserstein(
    xa: np.ndarray,
    wa: np.ndarray,
    xb: np.ndarray,
    wb: np.ndarray,
    method: Method = "auto",
    max_exact: int = 2000,
    reg: float = 0.01,
) -> Wasserstein:
    """Wasserstein-1 distance between ``sum_i wa_i d(xa_i)`` and ``sum_j wb_j d(xb_j)``.

    The ground cost is :func:`cosine_cost`. ``method="auto"`` solves exactly when both
    sides have at most ``max_exact`` points and uses Sinkhorn otherwise.

    Exact: :func:`ot.emd2` (network simplex); a solver that stops before optimality
    raises :class:`ConvergenceError`.

    Sinkhorn: the Sinkhorn iterate ``P`` (epsilon scaling, log-domain absorption) for
    regularisation ``reg`` (the entropy is taken relative to the product measure ``wa x wb``) is rounded onto the
    transport polytope (Altschuler, Weed and Rigollet 2017, Algorithm 2) and the
    reported ``value`` is the *transport cost* ``<round(P), C>`` of that feasible plan,
    without the entropy term. Since the rounded plan is feasible, ``value >= W1``; and

        ``value - W1 <= reg * log(min(n, m)) + 4 * max(C) * delta``

    where ``delta = ||P 1 - wa||_1 + ||P^T 1 - wb||_1`` is the marginal violation of the
    Sinkhorn iterate. (``P`` is the exact entropic optimum for its own marginals, so its
    cost exceeds the optimum by at most ``reg * (H(P) - H(P*)) <= reg * min(H(r), H(c))
    <= reg * log(min(n, m))`` plus the cost of moving between marginals, ``2 max(C)
    delta``; rounding adds at most another ``2 max(C) delta``.) That bound is returned
    as ``error_bound``; with converged iterations ``delta`` is ~1e-9 and the bound is
    essentially ``reg * log(min(n, m))``.
    """
    if method not in ("auto", "exact", "sinkhorn"):
        raise ValueError(f"method must be 'auto', 'exact' or 'sinkhorn', got {method!r}")
    if isinstance(max_exact, bool) or not isinstance(max_exact, (int, np.integer)) or max_exact < 1:
        raise ValueError(f"max_exact must be an integer >= 1, got {max_exact!r}")
    if not (isinstance(reg, (int, float, np.floating)) and math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a finite number > 0, got {reg!r}")
    xa = _as_matrix(xa, "xa")
    xb = _as_matrix(xb, "xb")
    a = _as_weights(wa, len(xa), "wa")
    b = _as_weights(wb, len(xb), "wb")
    # Zero-weight points carry no mass; dropping them keeps log-domain Sinkhorn finite.
    keep_a, keep_b = a > 0, b > 0
    cost = cosine_cost(xa[keep_a], xb[keep_b])
    a, b = a[keep_a], b[keep_b]
    if method == "auto":
        method = "exact" if max(len(a), len(b)) <= max_exact else "sinkhorn"
    if method == "exact":
        return Wasserstein(_exact(a, b, cost), "exact", None)
    value, bound = _sinkhorn(a, b, cost, float(reg))
    return Wasserstein(value, "sinkhorn", bound)


def _exact(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    if len(a) == 1 or len(b) == 1:
        # A single point on one side: the only plan moves everything to/from it.
        return float(np.sum(cost * (a[:, None] * b[None, :])))
    # The network simplex needs O(n*m) pivots in bad cases; POT's default (1e5) is too low.
    num_iter = max(1_000_000, 10 * len(a) * len(b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below via result_code
        value, log = ot.emd2(a, b, cost, numItermax=num_iter, log=True)
    if log.get("result_code", 1) != 1:
        raise ConvergenceError(f"exact Wasserstein solver stopped before optimality: {log.get('warning')} "
                               f"({len(a)} x {len(b)} points, numItermax={num_iter})")
    return float(value)


def _sinkhorn(a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float) -> tuple[float, float]:
    plan = _sinkhorn_plan(a, b, cost, reg)
    delta = float(np.abs(plan.sum(axis=1) - a).sum() + np.abs(plan.sum(axis=0) - b).sum())
    value = float(np.sum(_round_to_polytope(plan, a, b) * cost))
    bound = reg * math.log(min(len(a), len(b))) + 4.0 * float(cost.max()) * delta
    return value, bound


# Sinkhorn controls: marginal L1 tolerance at the target reg, looser on the way down,
# scaling vectors absorbed into the potentials once they leave [e^-_ABSORB, e^_ABSORB].
_TOL = 1e-9
_TOL_WARM = 1e-4
_MAX_ITER = 20_000
_ABSORB = 30.0


def _sinkhorn_plan(a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float) -> np.ndarray:
    """Entropic OT plan by Sinkhorn with epsilon scaling and log-domain absorption.

    POT's "sinkhorn_log" needs an exp per matrix entry per iteration (slow) and its
    "sinkhorn_stabilized" loses all mass for ~1000 points at reg=0.01 (measured in
    bench/wd_scaling.py), so: potentials (f, g) are kept in the log domain and refreshed
    by exact log-sum-exp half steps; between refreshes the iterations are plain scaling
    steps on the absorbed kernel exp((f + g - C) / eps) (matrix-vector products).
    eps decreases geometrically from the cost range to ``reg`` (warm starts). The result
    is exactly of Gibbs form diag(u) exp(-C / reg) diag(v) -- what the bound relies on.
    """
    spread = float(cost.max() - cost.min())
    schedule = [reg]
    while schedule[-1] * 4.0 < spread:
        schedule.append(schedule[-1] * 4.0)
    schedule.reverse()
    log_a, log_b = np.log(a), np.log(b)
    f = np.zeros(len(a))
    g = np.zeros(len(b))
    iterations = 0
    kernel = np.empty_like(cost)
    for step, eps in enumerate(schedule):
        tol = _TOL if step == len(schedule) - 1 else _TOL_WARM
        converged = False
        while not converged and iterations < _MAX_ITER:
            # Exact log-domain half steps: every row, then every column of the kernel has its mass.
            f = eps * (log_a - _logsumexp((g[None, :] - cost) / eps, axis=1))
            g = eps * (log_b - _logsumexp((f[:, None] - cost) / eps, axis=0))
            np.exp((f[:, None] + g[None, :] - cost) / eps, out=kernel)
            u = np.ones(len(a))
            v = np.ones(len(b))
            while iterations < _MAX_ITER:
                u = a / np.maximum(kernel @ v, 1e-300)
                v = b / np.maximum(kernel.T @ u, 1e-300)
                iterations += 1
                # Columns are exact after the v step; the row error is the whole violation.
                if iterations % 10 == 0 and np.abs(u * (kernel @ v) - a).sum() < tol:
                    converged = True
                    break
                if np.abs(np.log(u)).max() > _ABSORB or np.abs(np.log(v)).max() > _ABSORB:
                    break
            f += eps * np.log(u)
            g += eps * np.log(v)
    np.exp((f[:, None] + g[None, :] - cost) / reg, out=kernel)
    return kernel


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _round_to_polytope(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Altschuler et al. (2017) rounding: the nearest-ish plan with marginals exactly a, b."""
    rows = plan.sum(axis=1)
    scale_r = np.minimum(1.0, np.divide(a, rows, out=np.ones_like(a), where=rows > 0))
    plan = plan * scale_r[:, None]
    cols = plan.sum(axis=0)
    scale_c = np.minimum(1.0, np.divide(b, cols, out=np.ones_like(b), where=cols > 0))
    plan = plan * scale_c[None, :]
    err_a = np.maximum(a - plan.sum(axis=1), 0.0)
    err_b = np.maximum(b - plan.sum(axis=0), 0.0)
    mass = err_a.sum()
    if mass > 0:
        plan = plan + np.outer(err_a, err_b) / mass
    return plan


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (points x dimensions), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one point and one dimension, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _as_weights(w: np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} must be a 1-D array with one weight per point ({n}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must contain finite non-negative weights")
    total = arr.sum()
    if abs(total - 1.0) > _SUM_TOL:
        raise ValueError(f"{name} must sum to 1, got {total!r}")
    return arr / total
