"""Instruction distributions and the Wasserstein-1 distance between two tasks.

A task is a discrete distribution over its distinct instructions: each instruction is
a point (its embedding) weighted by its share of the task's examples (``"real"``) or
equally (``"uniform"``). The distance between two tasks is the Wasserstein-1 distance
between these distributions under the cosine ground cost ``c(x, y) = 1 - cos(x, y)``.

Three estimators (see :func:`wasserstein`):

* ``exact`` -- POT's network simplex (:func:`ot.emd2`) on the full ``n x m`` cost matrix
  (about 48 bytes per pair of points: fine for a few thousand instructions per task);
* ``sparse`` -- the same network simplex on a candidate graph of ``O(n + m)`` edges
  (each point's nearest points of the other side, found through a k-means cell index:
  :mod:`inscl.replay.sparse_ot`). Memory does not grow with ``n x m``; the value is the
  cost of a feasible plan (never below W1) and comes with a rigorous error bound;
* ``sinkhorn`` -- the entropic estimate on the dense cost matrix, kept for comparison.

``auto`` (the default) is exact when both sides have at most ``max_exact`` points and
``sparse`` otherwise; it never uses Sinkhorn, whose upward bias (about 0.01 at reg 0.01)
is as large as the gaps between task distances. Compressing each task to K k-means cells
was measured first and rejected (docs/benchmarks.md): on hashing embeddings its error
was 13% with K = n/2.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from inscl.data.task import Task


def pot() -> Any:
    """POT, imported on first use (it pulls in scikit-learn and networkx: ~1 s of start-up).

    POT also imports every array backend it finds (torch: another ~1.5 s) unless told not
    to; inscl only hands it numpy arrays. setdefault: a user who wants a backend can still
    have it, and a process that already imported torch keeps it.
    """
    if "ot" not in sys.modules and "torch" not in sys.modules:
        for backend in ("PYTORCH", "JAX", "CUPY", "TENSORFLOW"):
            os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
    import ot

    return ot


__all__ = ["ConvergenceError", "MemoryLimitError", "Wasserstein", "cosine_cost", "instruction_distribution",
           "memory_needed", "resolve_method", "wasserstein"]

DistributionMode = Literal["real", "uniform"]
Method = Literal["auto", "exact", "sparse", "sinkhorn"]
METHODS = ("auto", "exact", "sparse", "sinkhorn")

#: Bytes per pair of points of a dense solver: the float64 cost matrix, POT's copy of it,
#: the transport plan and the network simplex's arc arrays (flow, state, endpoints) --
#: 41 bytes measured from POT's sources, rounded up. Sinkhorn holds ~5 dense matrices.
BYTES_PER_PAIR = {"exact": 48, "sinkhorn": 48}

# Weights must sum to 1 up to this tolerance; they are renormalised exactly afterwards.
_SUM_TOL = 1e-6


class ConvergenceError(RuntimeError):
    """The exact solver stopped before reaching an optimal transport plan."""


class MemoryLimitError(MemoryError):
    """A dense solver would need more memory than allowed; raised before allocating anything."""

    def __init__(self, method: str, n: int, m: int, needed: int, limit: int) -> None:
        self.method, self.n, self.m, self.needed, self.limit = method, n, m, needed, limit
        super().__init__(f"the {method} Wasserstein distance of {n} x {m} points would need "
                         f"{needed / 2**30:.1f} GB (limit {limit / 2**30:.1f} GB)")


def memory_needed(method: str, n: int, m: int) -> int:
    """Bytes a dense solver (``exact`` or ``sinkhorn``) needs for ``n x m`` points."""
    return BYTES_PER_PAIR[method] * int(n) * int(m)


def available_memory() -> int:
    """Memory the process can still take: MemAvailable (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


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

    ``value`` is the transport cost; ``method`` says how it was computed (``"exact"``,
    ``"sparse"``, ``"sinkhorn"``);
    ``error_bound`` is ``None`` for the exact solver and otherwise a bound ``B`` with
    ``0 <= value - W1 <= B`` (see :func:`wasserstein`).
    """

    value: float
    method: Literal["exact", "sparse", "sinkhorn"]
    error_bound: float | None


def _check_method(method: str, max_exact: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(max_exact, bool) or not isinstance(max_exact, (int, np.integer)) or max_exact < 1:
        raise ValueError(f"max_exact must be an integer >= 1, got {max_exact!r}")


def resolve_method(method: str, n: int, m: int, max_exact: int = 2000) -> str:
    """The solver ``method`` uses for ``n x m`` points: ``auto`` is exact up to ``max_exact``, else sparse."""
    _check_method(method, max_exact)
    if method == "auto":
        return "exact" if max(n, m) <= max_exact else "sparse"
    return method


def _check_memory(method: str, n: int, m: int, limit: int | None) -> None:
    needed = memory_needed(method, n, m)
    if needed < (64 << 20):
        return  # small problems: never worth reading /proc
    cap = available_memory() if limit is None else int(limit)
    if needed > cap:
        raise MemoryLimitError(method, n, m, needed, cap)


def wasserstein(
    xa: np.ndarray,
    wa: np.ndarray,
    xb: np.ndarray,
    wb: np.ndarray,
    method: Method = "auto",
    max_exact: int = 2000,
    reg: float = 0.01,
    n_neighbors: int = 16,
    memory_limit: int | None = None,
) -> Wasserstein:
    """Wasserstein-1 distance between ``sum_i wa_i d(xa_i)`` and ``sum_j wb_j d(xb_j)``.

    The ground cost is :func:`cosine_cost`. ``method="auto"`` solves exactly when both
    sides have at most ``max_exact`` points and uses the sparse solver otherwise; it
    never uses Sinkhorn.

    Exact: :func:`ot.emd2` (network simplex) on the dense cost matrix; a solver that
    stops before optimality raises :class:`ConvergenceError`.

    Sparse: :func:`inscl.replay.sparse_ot.sparse_wasserstein` -- the network simplex on
    a candidate graph (each point's ``n_neighbors`` most similar points of the other
    side, found through a k-means cell index, plus a feasible staircase), memory
    ``O((n + m) (d + n_neighbors))``. Its value is the cost of a feasible plan (``>= W1``)
    and ``error_bound`` a rigorous ``value - W1`` bound from the duals (see there).

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

    The dense solvers (exact, Sinkhorn) check their memory first (:func:`memory_needed`
    against ``memory_limit`` bytes, default: the memory available now) and raise
    :class:`MemoryLimitError` instead of trying.
    """
    _check_method(method, max_exact)
    if not (isinstance(reg, (int, float, np.floating)) and math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a finite number > 0, got {reg!r}")
    xa = _as_matrix(xa, "xa", dtype=None)
    xb = _as_matrix(xb, "xb", dtype=None)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"xa and xb must have the same dimension, got {xa.shape[1]} and {xb.shape[1]}")
    a = _as_weights(wa, len(xa), "wa")
    b = _as_weights(wb, len(xb), "wb")
    # Zero-weight points carry no mass; dropping them keeps log-domain Sinkhorn finite.
    keep_a, keep_b = a > 0, b > 0
    xa, a, xb, b = xa[keep_a], a[keep_a], xb[keep_b], b[keep_b]
    method = resolve_method(method, len(a), len(b), max_exact)
    if method == "sparse":
        from inscl.replay.sparse_ot import PointIndex, sparse_wasserstein

        return sparse_wasserstein(PointIndex.build(xa, a), PointIndex.build(xb, b), n_neighbors=n_neighbors)
    _check_memory(method, len(a), len(b), memory_limit)
    cost = cosine_cost(xa, xb)
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
        value, log = pot().emd2(a, b, cost, numItermax=num_iter, log=True)
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


def _as_matrix(x: np.ndarray, name: str, dtype: type | None = np.float64) -> np.ndarray:
    arr = np.asarray(x, dtype=dtype)
    if dtype is None and arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (points x dimensions), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one point and one dimension, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
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
