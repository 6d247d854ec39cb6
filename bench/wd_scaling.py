"""Exact vs entropic Wasserstein-1: time and error as the number of instructions grows.

For each size n, two random distributions of n unit vectors in 384 dimensions (random
weights) are compared with ``inscl.replay.distance.wasserstein`` using ``method="exact"``
(POT network simplex, the baseline) and ``method="sinkhorn"`` (entropic estimate).
The table gives both times, the speed-up (exact / sinkhorn), the relative error
``(sinkhorn - exact) / exact`` and the documented error bound.

Each exact solve runs in a child process with a time limit so a size that does not
fit is reported as skipped instead of stalling the run; sizes whose matrices would
exceed ``--max-gb`` are skipped up front.

    python bench/wd_scaling.py                       # 100 1000 5000 10000
    python bench/wd_scaling.py --sizes 100 500 1000 --exact-timeout 120
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

from inscl.replay.distance import wasserstein

DIM = 384
# Peak float64 n x n matrices alive at once (cost, kernel, plan, scratch) -- for the memory guard.
_MATRICES = 6


def problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(n, DIM)).astype(np.float32)
    xb = rng.normal(size=(n, DIM)).astype(np.float32)
    xa /= np.linalg.norm(xa, axis=1, keepdims=True)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    wa, wb = rng.random(n) + 0.1, rng.random(n) + 0.1
    return xa, wa / wa.sum(), xb, wb / wb.sum()


def _timed(method: str, n: int, seed: int, reg: float, out: mp.Queue[tuple[float, float, float | None]]) -> None:
    xa, wa, xb, wb = problem(n, seed)
    start = time.perf_counter()
    w = wasserstein(xa, wa, xb, wb, method=method, reg=reg)  # type: ignore[arg-type]
    out.put((time.perf_counter() - start, w.value, w.error_bound))


def run(method: str, n: int, seed: int, reg: float, timeout: float) -> tuple[float, float, float | None] | str:
    """(seconds, value, bound) or the reason it was skipped."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_timed, args=(method, n, seed, reg, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return f"skipped (over {timeout:.0f} s)"
    if proc.exitcode != 0 or queue.empty():
        return f"skipped (exit code {proc.exitcode})"
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 10000])
    parser.add_argument("--reg", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact-timeout", type=float, default=180.0, help="seconds per exact solve")
    parser.add_argument("--sinkhorn-timeout", type=float, default=300.0, help="seconds per Sinkhorn solve")
    parser.add_argument("--max-gb", type=float, default=8.0, help="skip sizes whose matrices need more")
    args = parser.parse_args()

    print(f"Wasserstein-1, {DIM}-d random unit vectors, random weights, reg={args.reg}, seed={args.seed}")
    print("baseline: exact (POT emd2); estimate: Sinkhorn (eps scaling, log-domain absorption) + rounding")
    print("bound: documented error bound, 0 <= sinkhorn - exact <= bound")
    rows = []
    exact_too_slow = False
    for n in args.sizes:
        need_gb = _MATRICES * 8 * n * n / 1e9
        if need_gb > args.max_gb:
            rows.append((n, f"skipped (~{need_gb:.1f} GB > --max-gb)", None))
            continue
        # Once exact ran out of time at a smaller size it cannot fit a larger one.
        exact = "skipped (slower than the timeout at a smaller size)" if exact_too_slow else \
            run("exact", n, args.seed, args.reg, args.exact_timeout)
        exact_too_slow = exact_too_slow or isinstance(exact, str)
        sink = run("sinkhorn", n, args.seed, args.reg, args.sinkhorn_timeout)
        rows.append((n, exact, sink))

    header = f"{'n':>7} {'exact s':>10} {'sinkhorn s':>11} {'speed-up':>9} {'rel. error':>11} {'bound':>9}  note"
    print(header)
    print("-" * len(header))
    for n, exact, sink in rows:
        if sink is None or isinstance(sink, str):
            print(f"{n:>7} {'-':>10} {'-':>11} {'-':>9} {'-':>11} {'-':>9}  {sink or exact}")
            continue
        s_time, s_value, bound = sink
        if isinstance(exact, str):
            print(f"{n:>7} {'-':>10} {s_time:>11.3f} {'-':>9} {'-':>11} {bound:>9.4f}  exact {exact}")
            continue
        e_time, e_value, _ = exact
        rel = (s_value - e_value) / e_value
        print(f"{n:>7} {e_time:>10.3f} {s_time:>11.3f} {e_time / s_time:>8.2f}x {rel:>11.2e} {bound:>9.4f}  "
              f"W={e_value:.5f}, abs err {s_value - e_value:.2e}")


if __name__ == "__main__":
    main()
