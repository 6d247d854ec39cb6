"""Within-task selection: which ``n`` examples of a previous task are replayed.

Every selector returns exactly ``min(n, len(task))`` distinct examples of ``task`` in
the task's own order, and is deterministic given ``rng``:

* :func:`select_insinfo` -- InsInfo-guided sampling (the paper's Algorithm 1);
* :func:`select_random` -- uniform without replacement;
* :func:`select_prototype_data` -- k-means over example embeddings, nearest to centres;
* :func:`select_prototype_instruction` -- k-means over instruction embeddings;
* :func:`select_diverse_instruction` -- least similar instructions to the current task first.

Selection works on per-instruction counts (numpy), then draws that many examples of
each instruction without replacement, so it runs in about linear time.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import numpy as np

from inscl.data.task import Example, Task

__all__ = [
    "floor_shares",
    "select_diverse_instruction",
    "select_insinfo",
    "select_prototype_data",
    "select_prototype_instruction",
    "select_random",
]

# k-means restarts: fixed so results depend only on the rng.
_N_INIT = 3

#: Relative tolerance (of ``n``) within which a share is checked against the integer it is close to.
#: InsInfo scores are sums of logs: ``math.log`` and ``math.fsum`` leave a relative error of a
#: few units in 2**-53 (~1e-16) per score, so a share farther than this from every integer is
#: floored correctly from the floats; a closer one is decided exactly (``log_arguments``) or,
#: without them, taken to be the integer.
SHARE_SNAP = 1e-12


def floor_shares(scores: Sequence[float], n: int, snap: float = SHARE_SNAP,
                 log_arguments: Sequence[Fraction] | Callable[[int], Fraction] | None = None) -> list[int]:
    """``floor(n * score_k / sum(scores))`` per score, without rounding errors.

    A share farther than ``snap * n`` from every integer is floored from the floats (their
    error is ~1e-16 relative, far below ``snap``). Closer to an integer ``m``, the share is
    computed again from :class:`fractions.Fraction` of the floats (exact, so the division
    and floor add no rounding). InsInfo scores are themselves rounded values of sums of
    logarithms, though: ``[ln 33, ln 33, 3 ln 33]`` with ``n = 15`` has shares exactly 3,
    3, 9, yet the quotient of the floats is a hair below 3. So a share still within
    ``snap * n`` of ``m`` is decided:

    * with ``log_arguments`` (``r_k`` with ``score_k = ln r_k`` exactly, a sequence or a
      function of ``k``, e.g. from :class:`inscl.replay.insinfo.InsInfoLogArguments`):
      exactly, in integers -- ``n ln r_k >= m ln R`` (``R = prod r_j``) iff
      ``r_k ** n >= R ** m``;
    * without: the share is taken to be ``m``, which is right for any share of small
      rationals (their distance to an integer is far above ``snap * n``).

    All scores 0 means equal shares ``floor(n / K)``.
    """
    values = [float(v) for v in scores]
    total_float = math.fsum(values)
    if total_float == 0:
        return [int(n) // len(values)] * len(values) if values else []
    if log_arguments is not None and not callable(log_arguments) and len(log_arguments) != len(values):
        raise ValueError(f"log_arguments must have one entry per score ({len(values)}), got {len(log_arguments)}")
    arg = log_arguments if callable(log_arguments) or log_arguments is None else log_arguments.__getitem__
    tol = snap * max(int(n), 1)
    total: Fraction | None = None
    product: Fraction | None = None
    out = []
    for k, v in enumerate(values):
        q = n * v / total_float
        if abs(q - round(q)) > 2 * tol:  # far from an integer: the float floor is the exact one
            out.append(math.floor(q))
            continue
        if total is None:
            total = sum((Fraction(x) for x in values), Fraction(0))
        exact = n * Fraction(v) / total
        m = round(exact)
        if abs(exact - m) > tol:
            out.append(math.floor(exact))
        elif arg is None:
            out.append(int(m))
        else:
            if product is None:
                product = math.prod((Fraction(arg(j)) for j in range(len(values))), start=Fraction(1))
            # n ln r >= m ln R  <=>  r**n >= R**m (both sides positive rationals)
            out.append(int(m) if Fraction(arg(k)) ** int(n) >= product ** int(m) else int(m) - 1)
    return out


def select_insinfo(task: Task, n: int, scores: Mapping[str, float], rng: np.random.Generator,
                   log_arguments: Mapping[str, Fraction] | None = None) -> list[Example]:
    """InsInfo-guided sampling (Algorithm 1) of ``n`` examples of ``task``.

    With ``K`` distinct instructions: if ``n < K``, one random example of each of the
    ``n`` instructions with the highest score (ties: first seen). Otherwise each
    instruction gets ``max(1, floor(n * score / sum(scores)))`` examples (floored exactly,
    see :func:`floor_shares`), capped by what
    it has, and the total is fixed to exactly ``n``: a surplus is taken one at a time
    from the largest allocations (lowest score first among ties, never below 1); a
    deficit is handed out round robin by descending score to instructions with room.
    All scores 0 means equal shares. ``scores`` needs an entry for every instruction;
    ``log_arguments`` (optional, ``score = ln(r)`` exactly, as the planner passes) make the
    flooring exact for log scores too.
    """
    n = _check_n(n, task)
    if n == 0:
        return []
    groups = task.by_instruction()
    instructions = list(groups)
    score = np.empty(len(instructions), dtype=np.float64)
    for k, s in enumerate(instructions):
        if s not in scores:
            raise ValueError(f"no InsInfo score for instruction {s[:60]!r} of task {task.name!r}")
        v = float(scores[s])
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"InsInfo score of instruction {s[:60]!r} must be finite and >= 0, got {v!r}")
        score[k] = v
    sizes = np.array([len(groups[s]) for s in instructions], dtype=np.int64)
    by_score = np.lexsort((np.arange(len(score)), -score))  # descending score, then first seen
    counts = np.zeros(len(instructions), dtype=np.int64)
    if n < len(instructions):
        counts[by_score[:n]] = 1
    else:
        args = None
        if log_arguments is not None:
            def args(k: int) -> Fraction:  # looked up only for shares next to an integer
                r, v = Fraction(log_arguments[instructions[k]]), float(score[k])
                # log of numerator and denominator: r may be too large for a float
                if r <= 0 or not math.isclose(math.log(r.numerator) - math.log(r.denominator), v, rel_tol=1e-9,
                                              abs_tol=1e-12):
                    raise ValueError(f"log_arguments of instruction {instructions[k][:60]!r} is not exp(score): "
                                     f"{r} vs {v!r}")
                return r
        floors = np.asarray(floor_shares(score.tolist(), n, log_arguments=args), dtype=np.int64)
        counts = np.minimum(np.maximum(1, floors), sizes)
        counts = _fix_total(counts, sizes, score, by_score, n)
    return _draw(task, instructions, counts, rng)


def select_random(task: Task, n: int, rng: np.random.Generator) -> list[Example]:
    """``n`` examples of ``task`` drawn uniformly without replacement."""
    n = _check_n(n, task)
    idx = rng.choice(len(task), size=n, replace=False) if n else np.empty(0, dtype=np.int64)
    return [task.examples[i] for i in np.sort(idx)]


def select_prototype_data(task: Task, n: int, example_embeddings: np.ndarray,
                          rng: np.random.Generator) -> list[Example]:
    """The examples nearest to the centres of ``n`` k-means clusters of the example embeddings.

    ``example_embeddings`` has one row per example of ``task`` (same order). A centre
    whose nearest example is already taken gets its next nearest (round robin over
    centres) until ``n`` distinct examples are chosen.
    """
    n = _check_n(n, task)
    emb = _check_embeddings(example_embeddings, len(task), "example_embeddings", "example")
    if n == 0:
        return []
    if n == len(task):
        return list(task.examples)
    chosen = _prototypes(emb, n, rng)
    return [task.examples[i] for i in sorted(chosen)]


def select_prototype_instruction(task: Task, n: int, instruction_embeddings: np.ndarray,
                                 rng: np.random.Generator) -> list[Example]:
    """Examples of the instructions nearest to k-means centres of the instruction embeddings.

    ``instruction_embeddings`` has one row per ``task.instructions()``. With ``K``
    instructions, ``min(n, K)`` prototype instructions are chosen; the ``n`` examples
    are spread over them round robin (capped by what each has) and, should they run
    out, over the remaining instructions by distance to the nearest centre.
    """
    n = _check_n(n, task)
    instructions = task.instructions()
    emb = _check_embeddings(instruction_embeddings, len(instructions), "instruction_embeddings", "instruction")
    if n == 0:
        return []
    groups = task.by_instruction()
    k = min(n, len(instructions))
    if k == len(instructions):
        order = np.arange(len(instructions))
    else:
        prototypes = np.asarray(_prototypes(emb, k, rng), dtype=np.int64)
        rest = np.setdiff1d(np.arange(len(instructions)), prototypes)
        nearest = _sq_distances(emb[rest], emb[prototypes]).min(axis=1)
        order = np.concatenate([prototypes, rest[np.argsort(nearest, kind="stable")]])
    sizes = np.array([len(groups[s]) for s in instructions], dtype=np.int64)[order]
    counts_in_order = np.zeros(len(order), dtype=np.int64)
    counts_in_order[:k] = _round_robin(sizes[:k], n)
    short = n - int(counts_in_order.sum())
    if short:
        counts_in_order += _round_robin(sizes - counts_in_order, short)
    counts = np.zeros(len(instructions), dtype=np.int64)
    counts[order] = counts_in_order
    return _draw(task, instructions, counts, rng)


def select_diverse_instruction(task: Task, n: int, instruction_embeddings: np.ndarray,
                               current_embeddings: np.ndarray | None,
                               rng: np.random.Generator) -> list[Example]:
    """Dynosaur-style: instructions least similar to the current task's come first.

    Instructions of ``task`` (rows of ``instruction_embeddings``, one per
    ``task.instructions()``) are ranked by their maximum cosine similarity to the
    current task's instruction embeddings, ascending (ties: first seen); ``n`` examples
    are spread over them one per instruction per round, in that order. With no current
    embeddings (``None`` or no rows) the first-seen order is used.
    """
    n = _check_n(n, task)
    instructions = task.instructions()
    emb = _check_embeddings(instruction_embeddings, len(instructions), "instruction_embeddings", "instruction")
    if n == 0:
        return []
    similarity = np.zeros(len(instructions))
    if current_embeddings is not None:
        cur = np.asarray(current_embeddings, dtype=np.float64)
        if cur.ndim != 2 or (len(cur) and cur.shape[1] != emb.shape[1]):
            raise ValueError(f"current_embeddings must be a 2-D array with {emb.shape[1]} columns, "
                             f"got shape {cur.shape}")
        if len(cur):
            similarity = (_unit_rows(emb) @ _unit_rows(cur).T).max(axis=1)
    order = np.argsort(similarity, kind="stable")
    groups = task.by_instruction()
    sizes = np.array([len(groups[s]) for s in instructions], dtype=np.int64)
    counts = np.zeros(len(instructions), dtype=np.int64)
    counts[order] = _round_robin(sizes[order], n)
    return _draw(task, instructions, counts, rng)


# ---------------------------------------------------------------------------- helpers

def _check_n(n: object, task: Task) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    return min(int(n), len(task))


def _check_embeddings(x: np.ndarray, rows: int, name: str, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or len(arr) != rows:
        raise ValueError(f"{name} must be a 2-D array with one row per {what} ({rows}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _round_robin(room: np.ndarray, n: int) -> np.ndarray:
    """Hand out ``n`` units one per slot per round, in slot order, skipping full slots.

    Equivalent to the one-at-a-time loop but done in bulk rounds, so it takes at most
    one numpy pass per slot that fills up.
    """
    room = np.asarray(room, dtype=np.int64)
    counts = np.zeros(len(room), dtype=np.int64)
    left = min(int(n), int(room.sum()))
    while left > 0:
        open_ = np.flatnonzero(counts < room)
        full_rounds = min(left // len(open_), int((room[open_] - counts[open_]).min()))
        if full_rounds:
            counts[open_] += full_rounds
            left -= full_rounds * len(open_)
        else:
            counts[open_[:left]] += 1
            left = 0
    return counts


def _fix_total(counts: np.ndarray, sizes: np.ndarray, score: np.ndarray, by_score: np.ndarray,
               n: int) -> np.ndarray:
    """Adjust Algorithm 1's floor allocation to sum to exactly ``n``."""
    counts = counts.copy()
    surplus = int(counts.sum()) - n
    if surplus > 0:
        # Take one at a time from the largest allocation; among equal allocations the
        # lowest score (then the last seen) gives first. Never below 1 (n >= K ensures room).
        # ``surplus`` is at most K (the max(1, .) bumps), so a sort per unit is avoided by
        # levelling: lower the tallest allocations down to a common level in bulk.
        position = np.arange(len(counts))
        while surplus > 0:
            top = int(counts.max())
            tallest = np.flatnonzero(counts == top)
            below = counts[counts < top]
            next_level = max(int(below.max()) if len(below) else 1, 1)
            if top <= 1:
                raise AssertionError("cannot reduce below one example per instruction")  # n >= K rules it out
            steps = top - next_level
            if steps * len(tallest) <= surplus:
                counts[tallest] = next_level
                surplus -= steps * len(tallest)
            else:
                full, extra = divmod(surplus, len(tallest))
                counts[tallest] -= full
                order = tallest[np.lexsort((-position[tallest], score[tallest]))]
                counts[order[:extra]] -= 1
                surplus = 0
    elif surplus < 0:
        counts[by_score] += _round_robin((sizes - counts)[by_score], -surplus)
    return counts


def _draw(task: Task, instructions: Sequence[str], counts: np.ndarray, rng: np.random.Generator) -> list[Example]:
    """``counts[k]`` examples of instruction ``k`` without replacement, returned in task order."""
    positions: dict[str, list[int]] = {}
    for i, e in enumerate(task.examples):
        positions.setdefault(e.instruction, []).append(i)
    chosen: list[int] = []
    for s, c in zip(instructions, counts):
        if c:
            members = positions[s]
            chosen.extend(members[j] for j in rng.choice(len(members), size=int(c), replace=False))
    return [task.examples[i] for i in sorted(chosen)]


def _prototypes(emb: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """Row indices nearest to the centres of a k-means with ``k`` clusters, all distinct."""
    # Imported here: the default (InsInfo) path never loads scikit-learn's clustering.
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    seed = int(rng.integers(0, 2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer distinct clusters
        centres = KMeans(n_clusters=k, n_init=_N_INIT, random_state=seed).fit(emb).cluster_centers_
    ranked = np.argsort(_sq_distances(centres, emb), axis=1, kind="stable")  # (k, N): nearest first
    chosen: list[int] = []
    taken = np.zeros(len(emb), dtype=bool)
    depth = 0
    while len(chosen) < k:
        for c in range(k):
            i = int(ranked[c, depth])
            if not taken[i]:
                taken[i] = True
                chosen.append(i)
                if len(chosen) == k:
                    break
        depth += 1
    return chosen


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(axis=1)[:, None] - 2.0 * a @ b.T + (b * b).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
