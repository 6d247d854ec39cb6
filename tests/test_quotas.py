"""inscl.replay.quotas: fixed and dynamic (distance-proportional, largest remainder, capped) quotas."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inscl.replay.quotas import dynamic_quotas, fixed_quotas

PROPERTY = settings(max_examples=150, deadline=None)


def test_fixed_quotas_take_min_of_budget_and_availability_in_order():
    assert fixed_quotas({"b": 500, "a": 120, "c": 0}, 200) == {"b": 200, "a": 120, "c": 0}
    assert list(fixed_quotas({"b": 1, "a": 1}, 5)) == ["b", "a"]


def test_dynamic_quotas_worked_example_three_tasks():
    # W = (0.2, 0.3, 0.4), sum 0.9, total 400 (budget 200 at stage 3).
    # ideal = 400*W/0.9 = (88.889, 133.333, 177.778); floors (88, 133, 177) sum 398, 2 missing.
    # Remainders .889 > .778 > .333: a and c gain one -> (89, 133, 178), sum 400.
    q = dynamic_quotas({"a": 0.2, "b": 0.3, "c": 0.4}, {"a": 1000, "b": 1000, "c": 1000}, 400)
    assert q == {"a": 89, "b": 133, "c": 178}


def test_dynamic_quotas_worked_example_with_cap_redistributes_proportionally():
    # Same W, but task a has only 50 examples: ideal 88.9 > 50, so a gives 50 and the other
    # 350 are shared by b and c in proportion 0.3 : 0.4 -> 150 and 200 (no rounding needed).
    q = dynamic_quotas({"a": 0.2, "b": 0.3, "c": 0.4}, {"a": 50, "b": 1000, "c": 1000}, 400)
    assert q == {"a": 50, "b": 150, "c": 200}


def test_dynamic_quotas_cascading_caps():
    # ideal (50, 25, 25): a capped at 10 -> remaining 90 over b, c: 45 each; b capped at 30 ->
    # c takes the remaining 60.
    q = dynamic_quotas({"a": 2.0, "b": 1.0, "c": 1.0}, {"a": 10, "b": 30, "c": 100}, 100)
    assert q == {"a": 10, "b": 30, "c": 60}


def test_dynamic_quotas_everything_when_budget_exceeds_availability():
    assert dynamic_quotas({"a": 0.1, "b": 0.9}, {"a": 3, "b": 4}, 7) == {"a": 3, "b": 4}
    assert dynamic_quotas({"a": 0.1, "b": 0.9}, {"a": 3, "b": 4}, 1000) == {"a": 3, "b": 4}


def test_dynamic_quotas_zero_distance_task_absorbs_surplus_nobody_else_can():
    # b has distance 0 but is the only task with room left once a is exhausted.
    assert dynamic_quotas({"a": 1.0, "b": 0.0}, {"a": 5, "b": 100}, 50) == {"a": 5, "b": 45}


def test_dynamic_quotas_follow_order_of_distances():
    q = dynamic_quotas({"z": 1.0, "a": 1.0}, {"a": 10, "z": 10}, 3)
    assert list(q) == ["z", "a"] and q == {"z": 2, "a": 1}


@pytest.mark.parametrize(
    "distances, available, total, match",
    [
        ({"a": -0.1, "b": 1.0}, {"a": 5, "b": 5}, 4, "finite and >= 0"),
        ({"a": math.nan, "b": 1.0}, {"a": 5, "b": 5}, 4, "finite and >= 0"),
        ({"a": math.inf, "b": 1.0}, {"a": 5, "b": 5}, 4, "finite and >= 0"),
        ({"a": "far", "b": 1.0}, {"a": 5, "b": 5}, 4, "must be a number"),
        ({"a": 1.0}, {"a": 5, "b": 5}, 4, "same tasks"),
        ({"a": 1.0}, {"a": 5}, -1, "total"),
        ({"a": 1.0}, {"a": 5}, 2.5, "total"),
        ({"a": 1.0}, {"a": -5}, 2, "available"),
    ],
)
def test_dynamic_quotas_validate(distances, available, total, match):
    with pytest.raises(ValueError, match=match):
        dynamic_quotas(distances, available, total)


def test_fixed_quotas_validate():
    with pytest.raises(ValueError, match="per_task"):
        fixed_quotas({"a": 1}, -1)
    with pytest.raises(ValueError, match="available"):
        fixed_quotas({"a": -1}, 1)


# -- properties ----------------------------------------------------------------------------

tasks = st.integers(1, 8).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0.0, 2.0, allow_nan=False), min_size=k, max_size=k),
    st.lists(st.integers(0, 400), min_size=k, max_size=k),
    st.integers(0, 2000),
))


@PROPERTY
@given(tasks)
def test_dynamic_quotas_sum_exactly_and_respect_availability(case):
    distances, available, total = case
    names = [f"t{i}" for i in range(len(distances))]
    q = dynamic_quotas(dict(zip(names, distances)), dict(zip(names, available)), total)
    assert list(q) == names
    assert sum(q.values()) == min(total, sum(available))
    assert all(0 <= q[n] <= a for n, a in zip(names, available))
    assert all(type(v) is int for v in q.values())


@PROPERTY
@given(st.lists(st.floats(0.0, 2.0, allow_nan=False), min_size=1, max_size=8), st.integers(0, 3000))
def test_higher_distance_never_gets_smaller_quota_when_uncapped(distances, total):
    names = [f"t{i}" for i in range(len(distances))]
    q = dynamic_quotas(dict(zip(names, distances)), {n: total for n in names}, total)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if distances[i] > distances[j]:
                assert q[a] >= q[b]
    # And each quota is its ideal share rounded down or up: off by less than one.
    weights = distances if sum(distances) > 0 else [1.0] * len(distances)
    for n, w in zip(names, weights):
        assert abs(q[n] - total * w / sum(weights)) < 1 + 1e-9


@PROPERTY
@given(st.lists(st.integers(0, 500), min_size=0, max_size=8), st.integers(0, 600))
def test_fixed_quotas_property(available, per_task):
    have = {f"t{i}": a for i, a in enumerate(available)}
    q = fixed_quotas(have, per_task)
    assert q == {n: min(a, per_task) for n, a in have.items()}


@PROPERTY
@given(st.integers(2, 8), st.integers(0, 500))
def test_equal_distances_share_equally_and_deterministically(k, total):
    names = [f"t{i}" for i in range(k)]
    q = dynamic_quotas({n: 0.7 for n in names}, {n: 10_000 for n in names}, total)
    base, extra = divmod(total, k)
    # The first `extra` tasks (in the order given) get the extra one each; nobody gets two.
    assert [q[n] for n in names] == [base + 1] * extra + [base] * (k - extra)
