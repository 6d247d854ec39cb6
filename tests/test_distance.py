"""inscl.replay.distance: instruction distributions, cosine cost and Wasserstein-1 (exact and Sinkhorn)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inscl.data.task import Example, Task
from inscl.replay.distance import (
    MemoryLimitError,
    Wasserstein,
    cosine_cost,
    instruction_distribution,
    memory_needed,
    wasserstein,
)


def unit(deg: float) -> list[float]:
    """The 2-D unit vector at ``deg`` degrees."""
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def make_task(instructions: list[str]) -> Task:
    return Task("t", [Example(s, str(i), "o", f"t-{i}", "t") for i, s in enumerate(instructions)])


def random_problem(rng: np.random.Generator, n: int, m: int, dim: int = 8):
    xa, xb = rng.normal(size=(n, dim)), rng.normal(size=(m, dim))
    wa, wb = rng.random(n) + 0.05, rng.random(m) + 0.05
    return xa, wa / wa.sum(), xb, wb / wb.sum()


# -- distributions -------------------------------------------------------------------------

def test_real_distribution_weights_by_example_share_in_first_seen_order():
    task = make_task(["b", "a", "b", "c", "b", "a"])
    instructions, weights = instruction_distribution(task, "real")
    assert instructions == ["b", "a", "c"]
    assert weights.dtype == np.float64
    np.testing.assert_allclose(weights, [3 / 6, 2 / 6, 1 / 6])


def test_uniform_distribution_weights_distinct_instructions_equally():
    instructions, weights = instruction_distribution(make_task(["b", "a", "b", "c"]), "uniform")
    assert instructions == ["b", "a", "c"]
    np.testing.assert_allclose(weights, [1 / 3] * 3)
    assert weights.sum() == pytest.approx(1.0)


def test_distribution_rejects_empty_task_and_unknown_mode():
    with pytest.raises(ValueError, match="no examples"):
        instruction_distribution(Task("empty"))
    with pytest.raises(ValueError, match="mode"):
        instruction_distribution(make_task(["a"]), "weighted")  # type: ignore[arg-type]


# -- cosine cost ---------------------------------------------------------------------------

def test_cosine_cost_known_angles_and_range():
    cost = cosine_cost(np.array([unit(0), unit(90)]), np.array([unit(0), unit(60), unit(180)]))
    np.testing.assert_allclose(cost, [[0.0, 0.5, 2.0], [1.0, 1 - math.sqrt(3) / 2, 1.0]], atol=1e-12)
    assert cost.dtype == np.float64


def test_cosine_cost_is_scale_invariant_and_safe_for_zero_vectors():
    cost = cosine_cost(np.array([[0.0, 0.0], [3.0, 0.0]]), np.array([[5.0, 0.0], [0.0, 0.0]]))
    assert np.all(np.isfinite(cost))
    np.testing.assert_allclose(cost, [[1.0, 1.0], [0.0, 1.0]])


def test_cosine_cost_is_clipped_to_0_2_despite_rounding():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 384)).astype(np.float32)
    cost = cosine_cost(x, np.concatenate([x, -x]))
    assert cost.min() >= 0.0 and cost.max() <= 2.0
    np.testing.assert_allclose(np.diag(cost[:, :50]), 0.0, atol=1e-6)


def test_cosine_cost_rejects_dimension_mismatch():
    with pytest.raises(ValueError, match="same dimension"):
        cosine_cost(np.ones((2, 3)), np.ones((2, 4)))


# -- exact Wasserstein: worked examples ----------------------------------------------------

def test_exact_wasserstein_worked_example_equal_weights():
    # a = {0 deg: 1/2, 90 deg: 1/2}, b = {0 deg: 1/2, 180 deg: 1/2}.
    # Costs: 0->0: 0, 0->180: 2, 90->0: 1, 90->180: 1.
    # Plans: (0->0, 90->180) costs 0.5*0 + 0.5*1 = 0.5; (0->180, 90->0) costs 0.5*2 + 0.5*1 = 1.5.
    w = wasserstein(np.array([unit(0), unit(90)]), np.array([0.5, 0.5]),
                    np.array([unit(0), unit(180)]), np.array([0.5, 0.5]), method="exact")
    assert w == Wasserstein(pytest.approx(0.5), "exact", None)


def test_exact_wasserstein_worked_example_unequal_weights():
    # a = {0 deg: 0.75, 90 deg: 0.25}, b = {0 deg: 0.25, 60 deg: 0.75}.
    # Cheapest: 0.25 of 0->0 (cost 0), 0.5 of 0->60 (cost 0.5), 0.25 of 90->60 (cost 1 - cos 30).
    # W = 0.5 * 0.5 + 0.25 * (1 - sqrt(3)/2) = 0.25 + 0.0334936... = 0.2834936...
    expected = 0.25 + 0.25 * (1 - math.sqrt(3) / 2)
    w = wasserstein(np.array([unit(0), unit(90)]), np.array([0.75, 0.25]),
                    np.array([unit(0), unit(60)]), np.array([0.25, 0.75]))
    assert w.method == "exact" and w.error_bound is None
    assert w.value == pytest.approx(expected, abs=1e-12)


def test_exact_wasserstein_single_point_sides():
    # Everything moves from the one point of a: W = sum_j wb_j * cost(a, b_j) = 0.5*0 + 0.5*1.
    w = wasserstein(np.array([unit(0)]), np.array([1.0]), np.array([unit(0), unit(90)]), np.array([0.5, 0.5]))
    assert w.value == pytest.approx(0.5)


def test_wasserstein_is_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(0)
    xa, wa, xb, wb = random_problem(rng, 7, 5)
    assert wasserstein(xa, wa, xa, wa).value == pytest.approx(0.0, abs=1e-12)
    assert wasserstein(xa, wa, xb, wb).value == pytest.approx(wasserstein(xb, wb, xa, wa).value, abs=1e-12)


def test_zero_weight_points_are_ignored():
    a = np.array([unit(0), unit(90), unit(180)])
    with_zero = wasserstein(a, np.array([0.5, 0.5, 0.0]), np.array([unit(0)]), np.array([1.0]), method="sinkhorn")
    assert np.isfinite(with_zero.value)
    assert with_zero.value == pytest.approx(0.5, abs=with_zero.error_bound)


# -- Sinkhorn and its error bound ----------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_sinkhorn_is_within_documented_bound_of_exact(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 60)), int(rng.integers(2, 60))
    xa, wa, xb, wb = random_problem(rng, n, m, dim=int(rng.integers(2, 16)))
    reg = float(rng.choice([0.005, 0.01, 0.05, 0.2]))
    exact = wasserstein(xa, wa, xb, wb, method="exact").value
    approx = wasserstein(xa, wa, xb, wb, method="sinkhorn", reg=reg)
    assert approx.method == "sinkhorn"
    assert approx.error_bound is not None
    assert approx.error_bound >= reg * math.log(min(n, m))
    # The reported cost is that of a feasible plan: never below the optimum.
    assert exact - 1e-9 <= approx.value <= exact + approx.error_bound + 1e-9


def test_sinkhorn_small_reg_stays_finite_and_tight():
    rng = np.random.default_rng(11)
    xa, wa, xb, wb = random_problem(rng, 40, 40, dim=4)
    exact = wasserstein(xa, wa, xb, wb, method="exact").value
    approx = wasserstein(xa, wa, xb, wb, method="sinkhorn", reg=0.002)
    assert np.isfinite(approx.value)
    assert abs(approx.value - exact) <= approx.error_bound
    assert approx.error_bound < 0.02  # ~ reg * log(40) once the marginals have converged


def test_auto_switches_to_sparse_above_max_exact_and_never_to_sinkhorn():
    rng = np.random.default_rng(5)
    xa, wa, xb, wb = random_problem(rng, 6, 3)
    assert wasserstein(xa, wa, xb, wb, max_exact=6).method == "exact"
    above = wasserstein(xa, wa, xb, wb, max_exact=5)
    assert above.method == "sparse" and above.error_bound is not None
    exact = wasserstein(xa, wa, xb, wb, method="exact").value
    assert above.value == pytest.approx(exact, abs=1e-6)


# -- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"wa": np.array([0.5, 0.6])}, "sum to 1"),
        ({"wa": np.array([1.5, -0.5])}, "non-negative"),
        ({"wa": np.array([1.0])}, "one weight per point"),
        ({"xa": np.ones(2)}, "2-D"),
        ({"xa": np.array([[np.nan, 0.0], [1.0, 0.0]])}, "NaN"),
        ({"xb": np.ones((2, 3))}, "same dimension"),
        ({"method": "fast"}, "method"),
        ({"reg": 0.0}, "reg"),
        ({"max_exact": 0}, "max_exact"),
        ({"method": "sparse", "n_neighbors": 0}, "n_neighbors"),
    ],
)
def test_wasserstein_validates_inputs(kwargs, match):
    args = {"xa": np.array([unit(0), unit(90)]), "wa": np.array([0.5, 0.5]),
            "xb": np.array([unit(0), unit(45)]), "wb": np.array([0.5, 0.5])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        wasserstein(**args)


# -- sparse solver and memory limits -------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_sparse_solver_matches_exact_within_its_bound(seed):
    # Clustered points (like instructions of a few templates) with random weights.
    rng = np.random.default_rng(seed)
    n, m, dim = int(rng.integers(20, 300)), int(rng.integers(20, 300)), int(rng.integers(3, 40))
    centres = rng.normal(size=(5, dim))
    xa = centres[rng.integers(0, 5, n)] + 0.4 * rng.normal(size=(n, dim))
    xb = centres[rng.integers(0, 5, m)] + 0.4 * rng.normal(size=(m, dim))
    wa, wb = rng.random(n) + 0.01, rng.random(m) + 0.01
    wa, wb = wa / wa.sum(), wb / wb.sum()
    exact = wasserstein(xa, wa, xb, wb, method="exact").value
    sparse = wasserstein(xa, wa, xb, wb, method="sparse", n_neighbors=int(rng.integers(1, 6)))
    assert sparse.method == "sparse"
    # A feasible plan's cost (never below the optimum), certified by the dual bound.
    assert exact - 1e-6 <= sparse.value <= exact + sparse.error_bound + 1e-9
    assert sparse.value == pytest.approx(exact, rel=1e-4)
    assert sparse.error_bound <= 1e-4 * exact + 2e-5


def test_sparse_solver_probing_mode_bound_holds():
    # Above the exhaustive size the search probes k-means cells: the result may be above W1,
    # but never below it, and the reported bound always covers the gap.
    from inscl.replay.sparse_ot import PointIndex, sparse_wasserstein

    rng = np.random.default_rng(3)
    xa, wa, xb, wb = random_problem(rng, 400, 300, dim=12)
    exact = wasserstein(xa, wa, xb, wb, method="exact").value
    for probe in (1, 2, 8):
        got = sparse_wasserstein(PointIndex.build(xa, wa, n_cells=20), PointIndex.build(xb, wb, n_cells=20),
                                 n_neighbors=4, n_probe=probe, exhaustive=False)
        assert exact - 1e-6 <= got.value <= exact + got.error_bound + 1e-9


def test_dense_solvers_refuse_problems_beyond_the_memory_limit_before_allocating():
    rng = np.random.default_rng(0)
    xa, wa, xb, wb = random_problem(rng, 2000, 1500)
    needed = memory_needed("exact", 2000, 1500)
    assert needed == 48 * 2000 * 1500
    for method in ("exact", "sinkhorn"):
        with pytest.raises(MemoryLimitError, match="would need 0.1 GB"):
            wasserstein(xa, wa, xb, wb, method=method, memory_limit=needed // 2)
    # The sparse solver has no such limit: its memory is linear in n + m.
    assert wasserstein(xa, wa, xb, wb, method="sparse", memory_limit=needed // 2).method == "sparse"
