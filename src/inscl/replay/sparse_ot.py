"""Wasserstein-1 under the cosine cost on a sparse candidate graph, in memory linear in n + m.

The exact solver needs the dense ``n x m`` cost matrix (20,000 instructions per task:
19 GB). The optimal plan, though, has at most ``n + m - 1`` non-zero entries, and under
the cosine cost they join points to their near neighbours. :func:`sparse_wasserstein`:

1. **Index** (:class:`PointIndex`, once per task): unit rows (float32) grouped into about
   ``2 sqrt(n)`` cells by a few Lloyd iterations of k-means; each cell keeps its mean and
   its radius ``R = max ||u - mean||``.
2. **Candidates**: for every point, its ``n_neighbors`` most similar points of the other
   side, searched exactly inside the ``n_probe`` cells whose means are most similar
   (an inverted-file search: ``O(n (cells + n_probe m / cells) d)`` instead of ``O(n m d)``),
   plus a *staircase* (north-west corner plan along a common direction) that makes the
   graph feasible whatever the candidates.
3. **Solve** POT's network simplex on the candidate edges only (:func:`ot.emd2` with a
   sparse cost) -- ``value`` is the cost of a feasible plan, so ``value >= W1``.
4. **Bound**: the solver's duals ``(f, g)`` are optimal on the candidate edges. Making
   ``f`` feasible for *every* pair gives a lower bound ``L <= W1`` (weak duality):
   ``f'_i = min(f_i, min_j (c_ij - g_j))``; inside the probed cells the minimum is
   computed exactly, in any other cell ``l`` it is bounded below with
   ``c_ij >= 1 - <u_i, m_l> - R_l`` (Cauchy-Schwarz, ``|u_i| = 1``). Edges of the
   probed cells that violate the duals are added to the graph and the problem solved
   again (at most ``rounds`` times). ``error_bound = value - L`` bounds ``value - W1``.

The bound is rigorous but loose when cells are wide (high-dimensional embeddings); the
measured error against the exact solver is in docs/benchmarks.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from inscl.replay.distance import ConvergenceError, Wasserstein, pot

__all__ = ["PointIndex", "sparse_wasserstein"]

# Rows per block of every dense product: bounds the working memory to BLOCK x (cells or cell size).
_BLOCK = 2048
#: Largest share of non-zero entries for which the unit rows are kept as a CSR matrix.
SPARSE_DENSITY = 0.25
_LLOYD = 3
# Queries per chunk of the probed-cell passes: bounds their index lists to a few tens of MB.
_QUERY_CHUNK = 4096
# Probing mode: violated pairs added back per query, in units of n_neighbors. On a 20,000 x
# 20,000 pair (docs/benchmarks.md): all of them (up to 16 per probed cell) 1,066 MB; 4 -> 445 MB,
# +0.14% against all; 2 -> 273 MB, +0.41%. 2 keeps two 50,000 pairs solved side by side (16
# tasks x 50,000 on 2 threads) under 4 GB.
_VIOLATION_CAP = 2


@dataclass(frozen=True)
class PointIndex:
    """A weighted point set on the unit sphere, grouped into k-means cells for neighbour search.

    ``units`` are the float32 unit (or zero) rows -- a scipy CSR matrix when at most
    :data:`SPARSE_DENSITY` of the entries are non-zero (hashing vectors: ~8%, so 8x less
    memory), else a dense array; ``weights`` sum to 1; ``labels[i]`` is
    the cell of point ``i``; ``members`` lists the points cell by cell (``starts`` gives
    the slices); ``means`` and ``radii`` are the cells' float32 means and radii.
    """

    units: Any
    weights: np.ndarray
    labels: np.ndarray
    members: np.ndarray
    starts: np.ndarray
    means: np.ndarray
    radii: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, w: np.ndarray, n_cells: int | None = None, seed: int = 0) -> PointIndex:
        """Normalises ``x`` and groups it into ``n_cells`` cells (default ``2 sqrt(n)``; deterministic)."""
        u = np.asarray(x, dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]
        u = np.divide(u, norms, out=np.zeros_like(u), where=norms > 0)
        w = np.asarray(w, dtype=np.float64)
        n = len(u)
        k = max(1, min(n, int(n_cells) if n_cells else int(2 * math.sqrt(n))))
        rng = np.random.default_rng(seed)
        means = u[np.sort(rng.choice(n, size=k, replace=False))].copy()
        for _ in range(_LLOYD):
            labels = _nearest(u, means)
            sums, counts = _cell_sums(u, labels, k)
            means = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], means)
        labels = _nearest(u, means)
        order = np.argsort(labels, kind="stable")
        sums, counts = _cell_sums(u, labels, k)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        dist = np.empty(n, dtype=np.float64)
        for s in range(0, n, _BLOCK):
            d = u[s:s + _BLOCK] - means[labels[s:s + _BLOCK]]
            dist[s:s + _BLOCK] = np.sqrt(np.einsum("ij,ij->i", d, d))
        radii = _cell_max(dist[order], starts)
        return cls(_compact(u), w, labels, order, starts, means, radii + 1e-5)

    def __len__(self) -> int:
        return self.units.shape[0]

    def rows(self, idx: Any) -> np.ndarray:
        """Dense float32 copy of the unit rows ``idx`` (an index array or a slice)."""
        return _rows(self.units, idx)

    def flat(self) -> PointIndex:
        """The same points in a single cell (exhaustive search)."""
        n = self.units.shape[0]
        mean = (np.asarray(self.units.sum(axis=0), dtype=np.float64).ravel() / max(1, n))[None, :]
        radius = 0.0
        for s in range(0, n, _BLOCK):
            d = self.rows(slice(s, s + _BLOCK)).astype(np.float64) - mean
            radius = max(radius, float(np.sqrt(np.einsum("ij,ij->i", d, d)).max()))
        radius += 1e-5
        return PointIndex(self.units, self.weights, np.zeros(n, dtype=np.int64), np.arange(n),
                          np.array([0, n]), mean.astype(np.float32), np.array([radius]))

    @property
    def nbytes(self) -> int:
        u = self.units
        size = u.data.nbytes + u.indices.nbytes + u.indptr.nbytes if hasattr(u, "indptr") else u.nbytes
        return int(size + sum(getattr(self, f).nbytes for f in ("weights", "labels", "members", "starts",
                                                                "means", "radii")))

    def cell(self, c: int) -> np.ndarray:
        return self.members[self.starts[c]:self.starts[c + 1]]


def _compact(u: np.ndarray) -> Any:
    """``u`` as CSR when sparse enough (see :data:`SPARSE_DENSITY`), else as it is."""
    if u.size and np.count_nonzero(u) <= SPARSE_DENSITY * u.size:
        from scipy.sparse import csr_matrix

        return csr_matrix(u)
    return u


def _rows(units: Any, idx: Any) -> np.ndarray:
    part = units[idx]
    return part.toarray() if hasattr(part, "toarray") else np.asarray(part)


def _cell_sums(u: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import csr_matrix

    member = csr_matrix((np.ones(len(u), dtype=np.float32), (labels, np.arange(len(u)))), shape=(k, len(u)))
    return np.asarray(member @ u, dtype=np.float32), np.bincount(labels, minlength=k)


def _cell_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Maximum of ``values`` (sorted by cell) within each cell; -inf for an empty cell."""
    out = np.full(len(starts) - 1, -np.inf)
    full = starts[1:] > starts[:-1]
    if full.any():
        out[full] = np.maximum.reduceat(values, starts[:-1][full])
    return out


def _nearest(u: np.ndarray, means: np.ndarray) -> np.ndarray:
    m2 = np.einsum("ij,ij->i", means, means)
    out = np.empty(len(u), dtype=np.int64)
    for s in range(0, len(u), _BLOCK):
        out[s:s + _BLOCK] = (m2[None, :] - 2.0 * (u[s:s + _BLOCK] @ means.T)).argmin(axis=1)
    return out


def _probes(q: PointIndex, ix: PointIndex, n_probe: int) -> np.ndarray:
    """For every point of ``q``, the ``n_probe`` cells of ``ix`` with the most similar means."""
    k = len(ix.means)
    p = min(n_probe, k)
    out = np.empty((len(q), p), dtype=np.int64)
    for s in range(0, len(q), _BLOCK):
        sims = np.asarray(q.units[s:s + _BLOCK] @ ix.means.T)
        out[s:s + _BLOCK] = np.argpartition(-sims, p - 1, axis=1)[:, :p] if p < k else np.arange(k)
    return out


def _by_cell(probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(queries sorted by probed cell, slice starts per cell)."""
    queries = np.repeat(np.arange(len(probes)), probes.shape[1])
    cells = probes.ravel()
    order = np.argsort(cells, kind="stable")
    k = int(cells.max()) + 1 if len(cells) else 0
    starts = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=k))])
    return queries[order], starts


def _cell_blocks(queries: np.ndarray, starts: np.ndarray, ix: PointIndex) -> Iterator[tuple[np.ndarray,
                                                                                          np.ndarray]]:
    """(queries, points) of every probed cell, queries cut into blocks so a block's product stays small."""
    for c in range(len(starts) - 1):
        who = queries[starts[c]:starts[c + 1]]
        pts = ix.cell(c)
        if not len(who) or not len(pts):
            continue
        rows = max(64, (_BLOCK * 1024) // max(1, len(pts)))
        for s in range(0, len(who), rows):
            yield who[s:s + rows], pts


def _candidates(q: PointIndex, ix: PointIndex, probes: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's ``k`` most similar points of ``ix`` among its probed cells: (query, point, similarity).

    Queries go in chunks of :data:`_QUERY_CHUNK`, each reduced to its ``k`` best before the
    next: the per-cell top-k lists (``n_probe * k`` per query) never exist for all queries
    at once (at 50,000 points they would take about a GB).
    """
    out_q, out_p, out_s = [], [], []
    for lo in range(0, len(q), _QUERY_CHUNK):
        queries, starts = _by_cell(probes[lo:lo + _QUERY_CHUNK])
        queries += lo
        qs, ps, ss = [], [], []
        for who, pts in _cell_blocks(queries, starts, ix):
            sims = np.asarray(q.units[who] @ ix.rows(pts).T)
            kk = min(k, len(pts))
            top = (np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < len(pts)
                   else np.tile(np.arange(len(pts)), (len(who), 1)))
            qs.append(np.repeat(who, kk))
            ps.append(pts[top].ravel())
            ss.append(np.take_along_axis(sims, top, axis=1).ravel())
        if not qs:
            continue
        sim = np.concatenate(ss)
        # Keep each query's k best over all its probed cells.
        qi, pj, sim = _top_per_query(np.concatenate(qs), sim, k, np.concatenate(ps), sim)
        out_q.append(qi)
        out_p.append(pj)
        out_s.append(sim)
    if not out_q:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_s)


def _staircase(a: PointIndex, b: PointIndex) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the north-west-corner plan along a common direction: a feasible support (n + m - 1 edges)."""
    direction = np.asarray(a.units.T @ a.weights + b.units.T @ b.weights, dtype=np.float64).ravel()
    if not np.any(direction):
        direction = np.ones(a.units.shape[1])
    ia = np.argsort(-np.asarray(a.units @ direction).ravel(), kind="stable")
    ib = np.argsort(-np.asarray(b.units @ direction).ravel(), kind="stable")
    ca, cb = np.cumsum(a.weights[ia]), np.cumsum(b.weights[ib])
    ca[-1] = cb[-1] = 1.0
    # The plan moves mass interval [ca_{i-1}, ca_i) to [cb_{j-1}, cb_j): one edge per overlap.
    cuts = np.union1d(ca, cb)
    cuts = cuts[cuts > 0]
    mids = cuts - np.diff(np.concatenate([[0.0], cuts])) / 2
    i = np.minimum(np.searchsorted(ca, mids, side="right"), len(ia) - 1)
    j = np.minimum(np.searchsorted(cb, mids, side="right"), len(ib) - 1)
    return ia[i], ib[j]


def _edge_costs(a: PointIndex, b: PointIndex, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``1 - <u_i, v_j>`` per edge (float32 products, float64 result; error ~1e-7)."""
    out = np.empty(len(i), dtype=np.float64)
    step = 8192
    for s in range(0, len(i), step):
        out[s:s + step] = 1.0 - np.einsum("ij,ij->i", a.rows(i[s:s + step]), b.rows(j[s:s + step]))
    return np.clip(out, 0.0, 2.0, out=out)


def _edges(keys: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct edge keys (``i * m + j``) and their costs ``1 - similarity``."""
    keys, first = np.unique(keys, return_index=True)
    return keys, np.clip(1.0 - sims[first].astype(np.float64), 0.0, 2.0)


def _merge(keys: np.ndarray, costs: np.ndarray, new: np.ndarray,
           new_costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(np.concatenate([keys, new]), kind="stable")
    return np.concatenate([keys, new])[order], np.concatenate([costs, new_costs])[order]


def _solve(a: PointIndex, b: PointIndex, i: np.ndarray, j: np.ndarray,
           cost: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix

    graph = coo_matrix((cost, (i, j)), shape=(len(a), len(b)))
    num_iter = max(1_000_000, 50 * len(cost))
    # ot.emd, not ot.emd2: for a sparse cost, emd2 builds a Python dict over every edge
    # (for its gradient, hundreds of bytes per edge); emd returns the same cost and duals.
    # No warnings.catch_warnings() here: it is not thread-safe and the planner solves pairs
    # on threads; POT warns only when it stops early, which raises ConvergenceError below.
    _plan, log = pot().emd(a.weights, b.weights, graph, numItermax=num_iter, log=True)
    value = log["cost"]
    if log.get("result_code", 1) != 1:
        raise ConvergenceError(f"sparse Wasserstein solver stopped before optimality: {log.get('warning')} "
                               f"({len(a)} x {len(b)} points, {len(cost)} edges)")
    return float(value), np.asarray(log["u"], dtype=np.float64), np.asarray(log["v"], dtype=np.float64)


def _lower_bound(q: PointIndex, ix: PointIndex, probes: np.ndarray | None, f: np.ndarray, g: np.ndarray,
                 tol: float, per_row: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``f'_i <= min(f_i, min_j c_ij - g_j)`` per query, and the violating edges of probed cells
    (query, point, similarity)."""
    gmax = _cell_max(g[ix.members], ix.starts)
    bound = f.copy()
    # Unprobed cells: c_ij >= 1 - <u_i, m_l> - R_l, so c_ij - g_j >= that - max_{j in l} g_j.
    for s in range(0, len(q), _BLOCK):
        rows = slice(s, s + _BLOCK)
        low = 1.0 - np.asarray(q.units[rows] @ ix.means.T, dtype=np.float64) - ix.radii[None, :] - gmax[None, :]
        if probes is not None:
            mask = np.zeros_like(low, dtype=bool)
            np.put_along_axis(mask, probes[rows], True, axis=1)
            low[mask] = np.inf
        bound[rows] = np.minimum(bound[rows], low.min(axis=1))
    if probes is None:  # the cheap bound everywhere: no exact pass, no violations reported
        empty = np.zeros(0, dtype=np.int64)
        return bound, empty, empty, np.zeros(0, dtype=np.float32)
    # Probed cells: exact minimum (float32, within the caller's margin); edges below the duals
    # are returned for the next round. min_j (1 - s_ij - g_j) = 1 - max_j (s_ij + g_j).
    add_i, add_j, add_s = [], [], []
    g32 = g.astype(np.float32)
    for lo in range(0, len(q), _QUERY_CHUNK):
        queries, starts = _by_cell(probes[lo:lo + _QUERY_CHUNK])
        ci, cj, cs, cv = [], [], [], []
        for who, pts in _cell_blocks(queries + lo, starts, ix):
            sims = np.asarray(q.units[who] @ ix.rows(pts).T)
            sims += g32[pts][None, :]
            # A query probes a cell once, so ``who`` has no repeats.
            bound[who] = np.minimum(bound[who], 1.0 - sims.max(axis=1).astype(np.float64))
            limit = (1.0 + tol - f[who]).astype(np.float32)[:, None]
            if per_row is not None and per_row < len(pts):  # only each row's most violated pairs
                top = np.argpartition(-sims, per_row - 1, axis=1)[:, :per_row]
                r, k = np.nonzero(np.take_along_axis(sims, top, axis=1) > limit)
                col = top[r, k]
            else:
                r, col = np.nonzero(sims > limit)
            if len(r):
                ci.append(who[r])
                cj.append(pts[col])
                cs.append(sims[r, col] - g32[pts[col]])
                cv.append(sims[r, col] - limit[r, 0])
        if not ci:
            continue
        qi, pj, sim = np.concatenate(ci), np.concatenate(cj), np.concatenate(cs)
        if per_row is not None:  # each query's per_row most violated pairs over all its probed cells
            qi, pj, sim = _top_per_query(qi, np.concatenate(cv), _VIOLATION_CAP * per_row, pj, sim)
        add_i.append(qi)
        add_j.append(pj)
        add_s.append(sim)
    if not add_i:
        empty = np.zeros(0, dtype=np.int64)
        return bound, empty, empty, np.zeros(0, dtype=np.float32)
    return bound, np.concatenate(add_i), np.concatenate(add_j), np.concatenate(add_s)


def _top_per_query(qi: np.ndarray, score: np.ndarray, k: int, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows of each query (``qi``) with the ``k`` highest ``score``: (qi, *columns) filtered."""
    order = np.lexsort((-score, qi))
    qi = qi[order]
    first = np.concatenate([[0], np.flatnonzero(np.diff(qi)) + 1])
    rank = np.arange(len(qi)) - np.repeat(first, np.diff(np.concatenate([first, [len(qi)]])))
    keep = order[rank < k]
    return (qi[rank < k], *(c[keep] for c in columns))


#: Pairs (n x m) searched exhaustively: below it every cell is probed, and the result is certified
#: exact (error_bound ~ 0) after at most ``rounds`` re-solves; above it the probed share shrinks.
EXHAUSTIVE_PAIRS = 25_000_000
#: Cells searched per point above EXHAUSTIVE_PAIRS.
N_PROBE = 16
# Stop re-solving once the bound certifies this relative accuracy.
_CERTIFIED = 1e-4


def _exhaustive_candidates(a: PointIndex, b: PointIndex, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every point's ``k`` most similar points of the other side, from one blocked pass over all pairs."""
    ka, kb = min(k, len(b)), min(k, len(a))
    rows_i, rows_j, rows_s = [], [], []
    best_s = np.full((kb, len(b)), -np.inf, dtype=np.float32)
    best_i = np.zeros((kb, len(b)), dtype=np.int64)
    step = max(64, (_BLOCK * 1024) // max(1, len(b)))
    dense_b = b.rows(slice(None))  # exhaustive sizes only (n m <= EXHAUSTIVE_PAIRS): small enough
    for s in range(0, len(a), step):
        sims = np.asarray(a.units[s:s + step] @ dense_b.T)
        top = np.argpartition(-sims, ka - 1, axis=1)[:, :ka] if ka < len(b) else np.tile(np.arange(len(b)),
                                                                                      (len(sims), 1))
        rows_i.append(np.repeat(np.arange(s, s + len(sims)), top.shape[1]))
        rows_j.append(top.ravel())
        rows_s.append(np.take_along_axis(sims, top, axis=1).ravel())
        cand_s = np.concatenate([best_s, sims])
        cand_i = np.concatenate([best_i, np.broadcast_to(np.arange(s, s + len(sims))[:, None], sims.shape)])
        pick = np.argpartition(-cand_s, kb - 1, axis=0)[:kb] if kb < len(cand_s) else np.arange(len(cand_s))[
            :, None].repeat(len(b), axis=1)
        best_s = np.take_along_axis(cand_s, pick, axis=0)
        best_i = np.take_along_axis(cand_i, pick, axis=0)
    finite = np.isfinite(best_s)
    cols = np.broadcast_to(np.arange(len(b))[None, :], best_s.shape)
    return (np.concatenate(rows_i + [best_i[finite]]), np.concatenate(rows_j + [cols[finite]]),
            np.concatenate(rows_s + [best_s[finite]]))


def sparse_wasserstein(a: PointIndex, b: PointIndex, n_neighbors: int = 16, n_probe: int = N_PROBE,
                       rounds: int = 4, exhaustive: bool | None = None) -> Wasserstein:
    """W1 under the cosine cost on a candidate graph, with a rigorous bound (module docstring).

    ``exhaustive`` (default: ``n m <= EXHAUSTIVE_PAIRS``): every pair is searched, the
    candidates are exact nearest neighbours, violated dual constraints are added back (up
    to ``rounds`` re-solves) until the bound certifies 1e-4 relative accuracy. Otherwise
    ``n_probe`` cells are searched per point, the ``n_neighbors`` most violated pairs per
    point of the probed cells are added once and the problem solved again; the final
    bound comes from the cells' radii alone (cheap, rigorous, loose). ``value`` is the
    cost of a feasible plan (``>= W1`` up to float32 rounding, ~1e-7); ``error_bound`` is
    ``value - L`` for a dual lower bound ``L <= W1``. Memory: ``O((n + m) (n_neighbors +
    cells))`` besides the indexes.
    """
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an integer >= 1, got {n_neighbors!r}")
    if exhaustive is None:
        exhaustive = len(a) * len(b) <= EXHAUSTIVE_PAIRS
    m = len(b)
    if exhaustive:
        a, b = a.flat(), b.flat()
        pa = pb = np.zeros((len(a), 1), dtype=np.int64)
        i1, j1, s1 = _exhaustive_candidates(a, b, n_neighbors)
        i2 = j2 = np.zeros(0, dtype=np.int64)
        s2 = np.zeros(0, dtype=np.float32)
        per_row = None
    else:
        rounds = min(rounds, 1)
        pa, pb = _probes(a, b, n_probe), _probes(b, a, n_probe)
        i1, j1, s1 = _candidates(a, b, pa, n_neighbors)
        j2, i2, s2 = _candidates(b, a, pb, n_neighbors)
        per_row = n_neighbors
    i3, j3 = _staircase(a, b)
    keys, costs = _edges(np.concatenate([i1 * m + j1, i2 * m + j2]), np.concatenate([s1, s2]))
    stair = np.setdiff1d(i3 * m + j3, keys)
    keys, costs = _merge(keys, costs, stair, _edge_costs(a, b, stair // m, stair % m))
    tol, margin = 1e-6, 1e-5  # float32 similarities: violations below tol are noise; margin covers rounding
    for step in range(rounds + 1):
        value, f, g = _solve(a, b, keys // m, keys % m, costs)
        last = step == rounds
        # Probing mode, last solve: the cheap radius bound only (no pass over the probed cells).
        fa, add_i, add_j, add_s = _lower_bound(a, b, pa if (exhaustive or not last) else None, f, g, tol, per_row)
        lower = float(a.weights @ fa + b.weights @ g)
        if not exhaustive and not last:  # the other side probes other pairs
            _, add_j2, add_i2, add_s2 = _lower_bound(b, a, pb, g, f, tol, per_row)
            add_i, add_j = np.concatenate([add_i, add_i2]), np.concatenate([add_j, add_j2])
            add_s = np.concatenate([add_s, add_s2])
        if last or value - lower + margin <= _CERTIFIED * max(value, 1e-3):
            break
        new, new_s = _edges(add_i * m + add_j, add_s)
        fresh = ~np.isin(new, keys)
        if not fresh.any():
            break
        keys, costs = _merge(keys, costs, new[fresh], new_s[fresh])
    return Wasserstein(value, "sparse", max(0.0, value - (lower - margin)))
