"""inscl.replay.selectors: Algorithm 1 (InsInfo-guided), random, prototype and diverse-instruction selection."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inscl.data.task import Example, Task
from inscl.replay import selectors

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from naive_selection import naive_select_insinfo


def make_task(instruction_per_example: list[str], name: str = "t") -> Task:
    return Task(name, [Example(s, f"in{i}", f"out{i}", f"{name}-{i}", name)
                       for i, s in enumerate(instruction_per_example)])


def per_instruction(examples: list[Example]) -> dict[str, int]:
    return dict(Counter(e.instruction for e in examples))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# Toy task: 12 examples over 4 instructions with sizes 6, 2, 1, 3.
TOY = make_task(["s0"] * 6 + ["s1"] * 2 + ["s2"] + ["s3"] * 3)
TOY_SCORES = {"s0": 1.0, "s1": 3.0, "s2": 2.0, "s3": 0.0}


# -- Algorithm 1: worked examples -----------------------------------------------------------

def test_insinfo_fewer_than_instructions_takes_top_scored_one_each():
    # n = 2 < K = 4: the two highest scores are s1 (3.0) and s2 (2.0).
    assert per_instruction(selectors.select_insinfo(TOY, 2, TOY_SCORES, rng())) == {"s1": 1, "s2": 1}
    # n = 3: s1, s2, then s0 (1.0).
    assert per_instruction(selectors.select_insinfo(TOY, 3, TOY_SCORES, rng())) == {"s0": 1, "s1": 1, "s2": 1}


def test_insinfo_deficit_goes_round_robin_by_score_to_instructions_with_room():
    # n = 6, sum = 6: floor(6 * share) = (1, 3, 2, 0) -> max(1, .) = (1, 3, 2, 1) -> capped by sizes
    # (6, 2, 1, 3) = (1, 2, 1, 1), total 5. One missing: by score s1 (full), s2 (full), s0 -> s0 = 2.
    got = per_instruction(selectors.select_insinfo(TOY, 6, TOY_SCORES, rng()))
    assert got == {"s0": 2, "s1": 2, "s2": 1, "s3": 1}
    # n = 9: floors (1, 4, 3, 0) -> (1, 2, 1, 1) after max/caps, total 5. Four missing, round robin by
    # score over those with room (s0, then s3): s0 +1, s3 +1, s0 +1, s3 +1 -> (3, 2, 1, 3).
    got = per_instruction(selectors.select_insinfo(TOY, 9, TOY_SCORES, rng()))
    assert got == {"s0": 3, "s1": 2, "s2": 1, "s3": 3}


def test_insinfo_surplus_is_taken_from_largest_allocations_lowest_score_first():
    # 5 instructions with 10 examples each, scores (5.2, 4.8, 0, 0, 0), n = 10.
    # floor(10 * share) = (5, 4, 0, 0, 0) -> max(1, .) = (5, 4, 1, 1, 1), total 12: 2 too many.
    # Largest is s0 (5) -> 4; now s0 and s1 tie at 4, lowest score first: s1 -> 3.
    task = make_task([f"s{k}" for k in range(5) for _ in range(10)])
    scores = {"s0": 5.2, "s1": 4.8, "s2": 0.0, "s3": 0.0, "s4": 0.0}
    got = per_instruction(selectors.select_insinfo(task, 10, scores, rng()))
    assert got == {"s0": 4, "s1": 3, "s2": 1, "s3": 1, "s4": 1}


def test_insinfo_whole_task_and_more():
    assert selectors.select_insinfo(TOY, 12, TOY_SCORES, rng()) == TOY.examples
    assert selectors.select_insinfo(TOY, 50, TOY_SCORES, rng()) == TOY.examples


def test_insinfo_ties_by_first_seen_order():
    task = make_task(["b", "a", "c", "b"])
    got = per_instruction(selectors.select_insinfo(task, 2, {"a": 1.0, "b": 1.0, "c": 1.0}, rng()))
    assert got == {"b": 1, "a": 1}


def test_insinfo_examples_within_an_instruction_are_drawn_with_the_rng():
    task = make_task(["s"] * 20 + ["r"] * 20)
    draws = {tuple(e.id for e in selectors.select_insinfo(task, 1, {"s": 1.0, "r": 0.5}, rng(seed)))
             for seed in range(20)}
    assert len(draws) > 5 and all(d[0].startswith("t-") and int(d[0][2:]) < 20 for d in draws)


def test_insinfo_validates():
    with pytest.raises(ValueError, match="no InsInfo score"):
        selectors.select_insinfo(TOY, 3, {"s0": 1.0}, rng())
    with pytest.raises(ValueError, match="finite and >= 0"):
        selectors.select_insinfo(TOY, 3, dict(TOY_SCORES, s0=-1.0), rng())
    with pytest.raises(ValueError, match="n must be"):
        selectors.select_insinfo(TOY, -1, TOY_SCORES, rng())
    with pytest.raises(ValueError, match="n must be"):
        selectors.select_insinfo(TOY, True, TOY_SCORES, rng())


# -- other selectors: worked examples --------------------------------------------------------

def test_prototype_data_picks_one_example_per_blob():
    task = make_task(["s"] * 30)
    centres = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    emb = centres[np.arange(30) % 3] + rng(1).normal(scale=0.1, size=(30, 2))
    chosen = selectors.select_prototype_data(task, 3, emb, rng())
    blobs = {int(e.id.split("-")[1]) % 3 for e in chosen}
    assert len(chosen) == 3 and blobs == {0, 1, 2}


def test_prototype_data_fills_up_when_points_coincide():
    task = make_task(["s"] * 6)
    emb = np.zeros((6, 3))  # all identical: k-means finds one cluster; the rest is filled by next-nearest
    assert len({e.id for e in selectors.select_prototype_data(task, 4, emb, rng())}) == 4


def test_prototype_instruction_picks_one_instruction_per_cluster_and_spreads_examples():
    # 6 instructions in 3 tight clusters; each instruction has 4 examples.
    task = make_task([f"s{k}" for k in range(6) for _ in range(4)])
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    emb = centres[np.arange(6) % 3] + rng(2).normal(scale=0.05, size=(6, 2))
    got = per_instruction(selectors.select_prototype_instruction(task, 3, emb, rng()))
    assert sorted(int(s[1:]) % 3 for s in got) == [0, 1, 2] and set(got.values()) == {1}
    # n = 5 > K? no: k = min(5, 6) = 5 prototypes, one example each.
    assert sorted(per_instruction(selectors.select_prototype_instruction(task, 5, emb, rng())).values()) == [1] * 5
    # n = 14 >= K = 6: all instructions chosen, examples spread round robin: 14 = 6 + 6 + 2.
    got = per_instruction(selectors.select_prototype_instruction(task, 14, emb, rng()))
    assert sorted(got.values()) == [2, 2, 2, 2, 3, 3]


def test_diverse_instruction_prefers_least_similar_to_current_task():
    task = make_task(["near", "mid", "far", "near", "mid", "far"])
    emb = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # rows follow task.instructions()
    current = np.array([[1.0, 0.05], [2.0, 0.0]])
    got = per_instruction(selectors.select_diverse_instruction(task, 1, emb, current, rng()))
    assert got == {"far": 1}
    got = per_instruction(selectors.select_diverse_instruction(task, 2, emb, current, rng()))
    assert got == {"far": 1, "mid": 1}
    got = per_instruction(selectors.select_diverse_instruction(task, 4, emb, current, rng()))
    assert got == {"far": 2, "mid": 1, "near": 1}
    # No current embeddings: first-seen order.
    got = per_instruction(selectors.select_diverse_instruction(task, 1, emb, None, rng()))
    assert got == {"near": 1}


def test_embedding_selectors_validate_rows():
    with pytest.raises(ValueError, match="one row per example"):
        selectors.select_prototype_data(TOY, 2, np.ones((3, 2)), rng())
    with pytest.raises(ValueError, match="one row per instruction"):
        selectors.select_prototype_instruction(TOY, 2, np.ones((12, 2)), rng())
    with pytest.raises(ValueError, match="one row per instruction"):
        selectors.select_diverse_instruction(TOY, 2, np.ones((3, 2)), np.ones((1, 2)), rng())
    with pytest.raises(ValueError, match="current_embeddings"):
        selectors.select_diverse_instruction(TOY, 2, np.ones((4, 2)), np.ones((1, 3)), rng())
    with pytest.raises(ValueError, match="NaN"):
        selectors.select_prototype_data(TOY, 2, np.full((12, 2), np.nan), rng())


# -- properties: every selector --------------------------------------------------------------

task_and_n = st.tuples(
    st.lists(st.integers(0, 6), min_size=0, max_size=40),  # instruction index of each example
    st.integers(0, 50),
    st.integers(0, 2**31 - 1),
)


def run_all(task: Task, n: int, seed: int) -> dict[str, list[Example]]:
    data = np.random.default_rng(seed)
    instructions = task.instructions()
    scores = {s: float(data.choice([0.0, 0.5, 1.0, 2.3])) for s in instructions}
    example_emb = data.normal(size=(len(task), 5))
    instruction_emb = data.normal(size=(len(instructions), 5))
    current = data.normal(size=(3, 5))
    return {
        "insinfo": selectors.select_insinfo(task, n, scores, rng(seed)),
        "naive": naive_select_insinfo(task, n, scores, rng(seed)),
        "random": selectors.select_random(task, n, rng(seed)),
        "prototype-data": selectors.select_prototype_data(task, n, example_emb, rng(seed)),
        "prototype-instruction": selectors.select_prototype_instruction(task, n, instruction_emb, rng(seed)),
        "diverse-instruction": selectors.select_diverse_instruction(task, n, instruction_emb, current, rng(seed)),
    }


@settings(max_examples=40, deadline=None)
@given(task_and_n)
def test_every_selector_returns_exactly_min_n_len_distinct_examples_deterministically(case):
    labels, n, seed = case
    task = make_task([f"s{k}" for k in labels])
    first = run_all(task, n, seed)
    again = run_all(task, n, seed)
    position = {id(e): i for i, e in enumerate(task.examples)}
    for name, chosen in first.items():
        assert len(chosen) == min(n, len(task)), name
        assert len({e.id for e in chosen}) == len(chosen), name
        assert all(id(e) in position for e in chosen), name  # the task's own objects
        assert [position[id(e)] for e in chosen] == sorted(position[id(e)] for e in chosen), name
        assert [e.id for e in chosen] == [e.id for e in again[name]], name
    # The naive baseline allocates exactly as many examples to every instruction.
    assert per_instruction(first["naive"]) == per_instruction(first["insinfo"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=8),
       st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=8, max_size=8), st.integers(0, 120))
def test_algorithm1_allocation_properties(sizes, raw_scores, n):
    task = make_task([f"s{k}" for k, size in enumerate(sizes) for _ in range(size)])
    scores = {f"s{k}": raw_scores[k] for k in range(len(sizes))}
    got = per_instruction(selectors.select_insinfo(task, n, scores, rng()))
    n_eff = min(n, len(task))
    assert sum(got.values()) == n_eff
    assert all(got[s] <= size for s, size in zip(scores, sizes) if s in got)
    if n_eff >= len(sizes):
        assert set(got) == set(scores)  # every instruction keeps at least one example
    else:
        # Exactly the n highest scores (ties by first seen) get one each.
        ranked = sorted(scores, key=lambda s: (-scores[s], int(s[1:])))
        assert got == {s: 1 for s in ranked[:n_eff]}


# -- Algorithm 1: exact flooring ------------------------------------------------------------

def test_algorithm1_regression_log_scores_floor_to_the_exact_integers():
    # 15 * ln33 / (5 ln33) is exactly 3, but in floats the quotient lands a hair below.
    import math

    task = make_task(["a"] * 10 + ["b"] * 10 + ["c"] * 10)
    scores = {"a": math.log(33), "b": math.log(33), "c": 3 * math.log(33)}
    assert selectors.floor_shares(list(scores.values()), 15) == [3, 3, 9]
    got = per_instruction(selectors.select_insinfo(task, 15, scores, rng()))
    assert got == {"a": 3, "b": 3, "c": 9}
    assert per_instruction(naive_select_insinfo(task, 15, scores, rng())) == got


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fractions(min_value=0, max_value=20, max_denominator=40), min_size=1, max_size=5),
       st.integers(1, 500))
def test_floor_shares_matches_exact_rational_floor(values, n):
    import math
    from fractions import Fraction

    total = sum(values, Fraction(0))
    expected = ([math.floor(n * v / total) for v in values] if total
                else [n // len(values)] * len(values))
    assert selectors.floor_shares([float(v) for v in values], n) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=6), st.integers(1, 40), st.integers(2, 10**6))
def test_floor_shares_of_log_multiples_hit_the_integers(weights, multiple, base):
    # Scores w_k * ln(base): the shares n * w_k / sum(w) are integers when n is a multiple of
    # sum(w); floats of the products land on either side (a plain float floor misses ~25 %).
    import math

    n = sum(weights) * multiple
    scores = [w * math.log(base) for w in weights]
    assert selectors.floor_shares(scores, n) == [n * w // sum(weights) for w in weights]


def test_floor_shares_decides_near_integer_shares_exactly_with_log_arguments():
    import math
    from fractions import Fraction

    # ln(1e15) and ln(1e15 + 1) are the same float; the true share of the first is 1 - 1.4e-17.
    a, b = 10**15, 10**15 + 1
    scores = [math.log(a), math.log(b)]
    assert scores[0] == scores[1]
    assert selectors.floor_shares(scores, 2) == [1, 1]  # floats alone cannot tell
    assert selectors.floor_shares(scores, 2, log_arguments=[Fraction(a), Fraction(b)]) == [0, 1]
    # the regression case, decided exactly: 15 ln 33 / (5 ln 33) is 3
    r = [Fraction(33), Fraction(33), Fraction(33**3)]
    assert selectors.floor_shares([math.log(33), math.log(33), 3 * math.log(33)], 15, log_arguments=r) == [3, 3, 9]
    task = make_task(["a"] * 10 + ["b"] * 10 + ["c"] * 10)
    got = selectors.select_insinfo(task, 15, dict(zip("abc", [math.log(33), math.log(33), 3 * math.log(33)])),
                                   rng(), log_arguments=dict(zip("abc", r)))
    assert per_instruction(got) == {"a": 3, "b": 3, "c": 9}
    with pytest.raises(ValueError, match="not exp"):
        selectors.select_insinfo(task, 15, {"a": 1.0, "b": 1.0, "c": 1.0}, rng(), log_arguments=dict(zip("abc", r)))


def test_insinfo_log_arguments_are_the_exact_form_of_insinfo():
    import math
    from fractions import Fraction

    from inscl.replay.insinfo import insinfo_log_arguments, insinfo_scores

    tags = {"s1": ["x", "y"], "s2": ["x"], "s3": ["z", "z"], "s4": []}
    args, scores = insinfo_log_arguments(tags), insinfo_scores(tags)
    assert args == {"s1": Fraction(4, 2) * 4, "s2": Fraction(2), "s3": Fraction(4), "s4": Fraction(1)}
    assert all(math.isclose(math.log(args[s]), scores[s], abs_tol=1e-15) for s in tags)
