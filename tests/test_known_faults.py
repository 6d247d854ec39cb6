"""One regression test per known fault of the paper's public code (each fails on a faithful port)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from inscl.data.task import Example, Task
from inscl.replay import selectors
from inscl.replay.insinfo import insinfo_scores
from inscl.replay.quotas import dynamic_quotas
from inscl.replay.tags import merge_tags


def make_task(instruction_per_example: list[str]) -> Task:
    return Task("t", [Example(s, f"in{i}", "o", f"t-{i}", "t") for i, s in enumerate(instruction_per_example)])


def test_first_stage_has_nothing_to_replay():
    # Stage 1: no previous task, so no quotas; selecting 0 examples (or from an empty task) works.
    assert dynamic_quotas({}, {}, 0) == {}
    assert dynamic_quotas({}, {}, 200) == {}
    empty = Task("empty")
    assert selectors.select_insinfo(empty, 200, {}, np.random.default_rng(0)) == []
    assert selectors.select_random(empty, 5, np.random.default_rng(0)) == []
    task = make_task(["a", "b"])
    assert selectors.select_insinfo(task, 0, {"a": 1.0, "b": 1.0}, np.random.default_rng(0)) == []
    assert selectors.select_prototype_data(task, 0, np.ones((2, 2)), np.random.default_rng(0)) == []
    assert insinfo_scores({}) == {}


def test_dbscan_last_cluster_is_not_skipped():
    # Two clusters (labels 0 and 1). The paper iterates range(max(labels)) = range(1) and never
    # renames cluster 1's members; here both clusters are named by their most frequent member.
    vectors = {"sum": [1.0, 0.0], "summary": [0.999, 0.04], "summarize": [0.998, 0.06],
               "translate": [0.0, 1.0], "translation": [0.04, 0.999], "translating": [0.06, 0.998]}
    tags = ["sum", "summary", "summary", "summarize", "translate", "translation", "translation", "translating"]
    names = merge_tags(tags, np.array([vectors[t] for t in tags]), eps=0.1, min_samples=2)
    assert names["translate"] == names["translating"] == "translation"  # the last cluster
    assert names["sum"] == names["summarize"] == "summary"


def test_all_zero_insinfo_does_not_divide_by_zero():
    # Every instruction carries the same tag -> every InsInfo is log(N/N) = 0; the paper divides
    # n * score / sum(scores) = 0/0. Here the shares become equal.
    scores = insinfo_scores({"a": ["x"], "b": ["x"], "c": ["x"]})
    assert scores == {"a": 0.0, "b": 0.0, "c": 0.0}
    task = make_task(["a"] * 5 + ["b"] * 5 + ["c"] * 5)
    chosen = selectors.select_insinfo(task, 9, scores, np.random.default_rng(0))
    assert Counter(e.instruction for e in chosen) == {"a": 3, "b": 3, "c": 3}
    # Same for identical tasks in the quotas: all distances 0 -> equal shares.
    assert dynamic_quotas({"t1": 0.0, "t2": 0.0}, {"t1": 50, "t2": 50}, 40) == {"t1": 20, "t2": 20}


def test_tied_rounding_adjusts_each_task_once():
    # Three equidistant tasks, total 400: ideal 133.33 each, floors sum 399. The paper's code
    # gives +1 to every task tied on the largest remainder (402 in all); here exactly one
    # task -- the first listed -- gets it, and the total is exact.
    q = dynamic_quotas({"t1": 0.4, "t2": 0.4, "t3": 0.4}, {"t1": 1000, "t2": 1000, "t3": 1000}, 400)
    assert q == {"t1": 134, "t2": 133, "t3": 133}
    assert sum(q.values()) == 400
    # Same with 2 missing out of 3 ties: the first two listed.
    q = dynamic_quotas({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 99, "b": 99, "c": 99}, 5)
    assert q == {"a": 2, "b": 2, "c": 1}


def test_instruction_with_fewer_examples_than_its_share_is_capped_and_total_kept():
    # s0 has the highest InsInfo but only 2 examples; its share floor(10 * 0.8) = 8 is capped at 2
    # and the missing examples go to the others (by descending score) so exactly 10 come back.
    task = make_task(["s0"] * 2 + ["s1"] * 10 + ["s2"] * 10)
    scores = {"s0": 8.0, "s1": 1.5, "s2": 0.5}
    chosen = selectors.select_insinfo(task, 10, scores, np.random.default_rng(0))
    counts = Counter(e.instruction for e in chosen)
    assert len(chosen) == 10 and len({e.id for e in chosen}) == 10
    assert counts["s0"] == 2
    # floors: s1 = floor(1.5) = 1, s2 = max(1, floor(0.5)) = 1 -> 4 total, 6 missing, round robin
    # by score over s1, s2: 3 each -> s1 = 4, s2 = 4.
    assert counts == {"s0": 2, "s1": 4, "s2": 4}
    # Same at the task level: a task with fewer examples than its dynamic share.
    q = dynamic_quotas({"t1": 3.0, "t2": 1.0}, {"t1": 10, "t2": 500}, 200)
    assert q == {"t1": 10, "t2": 190}
    assert math.isclose(sum(q.values()), 200)
