"""A 3-task stream small enough to plan by hand; every number is checked exactly.

Instruction embeddings (2-D, cosine ground cost 1 - cos):
    a1 = (1, 0)   a2 = (4, 3)   a3 = (0, 1)          task A: a1 x4, a2 x1, a3 x1
    b1 = (3, 4)   b2 = (0, 1)                        task B: b1 x2, b2 x2
    c1 = (0, 1)                                      task C: c1 x3
Useful cosines: cos(a1,b1)=0.6, cos(a2,b1)=24/25, cos(a2,b2)=0.6, cos(a3,b1)=0.8.

"real" weights: A = (a1 2/3, a2 1/6, a3 1/6), B = (1/2, 1/2), C = (1).

W(A, B) (stage 2). Cost rows (to b1, to b2): a1 (0.4, 1), a2 (0.04, 0.4), a3 (0.2, 0).
Sending everything to b2 costs 2/3*1 + 1/6*0.4 + 0 = 11/15; moving mass x_i to b1 changes
the cost by x_i*(c_i,b1 - c_i,b2) = -0.6 (a1), -0.36 (a2), +0.2 (a3) per unit. b1 takes 1/2,
best filled from a1 (2/3 available): W = 11/15 - 0.6 * 1/2 = 13/30.
W(A, C) = 2/3*(1-0) + 1/6*(1-0.6) + 1/6*(1-1) = 11/15.       (one target point)
W(B, C) = 1/2*(1-0.8) + 1/2*(1-1) = 1/10.

Quotas, budget 3. Stage 2: A alone gets 3*1 = 3. Stage 3: total 6 split as W:
A = 6 * (11/15) / (11/15 + 1/10) = 5.28, B = 0.72 -> floors 5, 0, the remaining 1 goes to
the larger remainder (B, 0.72 > 0.28): A = 5, B = 1.

Tags (raw -> normalised): "Sentiment" -> sentiment, "reviews" -> review; the tag
embeddings put "emotion" at cosine distance ~0.005 from "sentiment" (every other pair is
>= 0.2 apart), so with eps=0.1 and min_samples=2 DBSCAN merges them and the cluster is
named by its more frequent tag, "sentiment" (2 instructions vs 1).
    a1: sentiment, classification        a2: sentiment
    a3: sentiment (was emotion), classification, review
    b1: question, review                 b2: question
    c1: summary, review

InsInfo(s) = sum over its tags of ln(N / f_tag).
Stage 2, N = 5 (a1..a3, b1, b2): f sentiment 3, classification 2, review 2, question 2.
    a1 = ln(5/3) + ln(5/2)              a2 = ln(5/3)
    a3 = ln(5/3) + 2 ln(5/2)
Stage 3, N = 6: f sentiment 3, classification 2, review 3, question 2, summary 1.
    a1 = ln 2 + ln 3 = ln 6             a2 = ln 2            a3 = ln 2 + ln 3 + ln 2 = ln 12
    b1 = ln 2 + ln 3 = ln 6             b2 = ln 3

Selection (Algorithm 1).
Stage 2, A, n = 3 = number of instructions -> allocation max(1, floor(3 * share)):
    shares a1 1/3, a2 ~0.12, a3 ~0.55 -> 1, 1, 1 (sum 3): one example of each instruction.
Stage 3, B, n = 1 < 2 instructions -> one example of the top instruction, b1 (ln 6 > ln 3).
Stage 3, A, n = 5 >= 3 instructions; shares (of ln 144 = ln 6 + ln 2 + ln 12):
    a1 5*0.3605 = 1.80 -> 1;  a2 5*0.1395 = 0.70 -> max(1, 0) = 1;  a3 5*0.5 = 2.5 -> 2, capped to its 1.
    Sum 3 < 5: the 2 missing examples can only come from a1 (a2 and a3 are exhausted):
    a1 = 3, a2 = 1, a3 = 1.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

from inscl.data.precomputed import PrecomputedEncoder
from inscl.data.task import Example, Task
from inscl.replay.planner import PlannerConfig, ReplayPlanner

INSTRUCTION_VECTORS = {"a1": (1, 0), "a2": (4, 3), "a3": (0, 1), "b1": (3, 4), "b2": (0, 1), "c1": (0, 1)}
COUNTS = {"A": {"a1": 4, "a2": 1, "a3": 1}, "B": {"b1": 2, "b2": 2}, "C": {"c1": 3}}
RAW_TAGS = {
    "a1": ["Sentiment", "classification"],
    "a2": ["sentiment"],
    "a3": ["emotion", "classification", "reviews"],
    "b1": ["question", "review"],
    "b2": ["question"],
    "c1": ["summary", "review"],
}
# Every form a tag may be encoded in (raw or normalised) maps to the same vector.
TAG_VECTORS = {
    "sentiment": (1.0, 0.0), "Sentiment": (1.0, 0.0), "emotion": (0.995, 0.0998),
    "classification": (0.0, 1.0), "review": (-1.0, 0.0), "reviews": (-1.0, 0.0),
    "question": (0.0, -1.0), "summary": (-0.6, -0.8),
}


def instruction(key: str) -> str:
    return f"instruction {key}: do the {key} thing."


def make_tasks() -> list[Task]:
    tasks = []
    for name, counts in COUNTS.items():
        examples = [Example(instruction(key), f"input {key}.{j}", f"output {key}.{j}", f"{key}-{j}", name)
                    for key, n in counts.items() for j in range(n)]
        tasks.append(Task(name, examples))
    return tasks


def make_planner(strategy: str = "inscl") -> ReplayPlanner:
    encoder = PrecomputedEncoder({instruction(k): np.array(v, float) for k, v in INSTRUCTION_VECTORS.items()})
    tag_encoder = PrecomputedEncoder({k: np.array(v, float) for k, v in TAG_VECTORS.items()}, kind="tag")
    config = PlannerConfig(strategy=strategy, budget=3, seed=0, distribution="real", wasserstein="exact",
                           dbscan_eps=0.1, dbscan_min_samples=2)
    tags = {instruction(k): v for k, v in RAW_TAGS.items()}
    return ReplayPlanner(config, encoder, tags, tag_encoder=tag_encoder, progress=False)


def per_instruction(ids: list[str]) -> Counter:
    return Counter(i.split("-")[0] for i in ids)


@pytest.fixture(scope="module")
def planned() -> ReplayPlanner:
    planner = make_planner()
    for task in make_tasks():
        planner.add_task(task)
    return planner


def test_stage_one_replays_nothing(planned: ReplayPlanner) -> None:
    s1 = planned.stages[0]
    assert (s1.index, s1.task, s1.replay, s1.quotas, s1.selected) == (1, "A", [], {}, {})
    assert s1.wasserstein_method is None


def test_distances(planned: ReplayPlanner) -> None:
    s2, s3 = planned.stages[1:]
    assert s2.distances == pytest.approx({"A": 13 / 30}, abs=1e-9)
    assert s3.distances == pytest.approx({"A": 11 / 15, "B": 1 / 10}, abs=1e-9)
    assert s2.wasserstein_method == s3.wasserstein_method == "exact"


def test_quotas(planned: ReplayPlanner) -> None:
    s2, s3 = planned.stages[1:]
    assert s2.quotas == {"A": 3}
    assert s3.quotas == {"A": 5, "B": 1}
    assert s3.available == {"A": 6, "B": 4}


def test_insinfo(planned: ReplayPlanner) -> None:
    s2, s3 = planned.stages[1:]
    ln = math.log
    expected2 = {"a1": ln(5 / 3) + ln(5 / 2), "a2": ln(5 / 3), "a3": ln(5 / 3) + 2 * ln(5 / 2)}
    assert s2.insinfo == {"A": pytest.approx({instruction(k): v for k, v in expected2.items()}, abs=1e-9)}
    expected3 = {"A": {"a1": ln(6), "a2": ln(2), "a3": ln(12)}, "B": {"b1": ln(6), "b2": ln(3)}}
    assert set(s3.insinfo) == {"A", "B"}
    for task, scores in expected3.items():
        assert s3.insinfo[task] == pytest.approx({instruction(k): v for k, v in scores.items()}, abs=1e-9)


def test_selected_instructions(planned: ReplayPlanner) -> None:
    s2, s3 = planned.stages[1:]
    assert per_instruction(s2.selected["A"]) == {"a1": 1, "a2": 1, "a3": 1}
    assert per_instruction(s3.selected["B"]) == {"b1": 1}
    assert per_instruction(s3.selected["A"]) == {"a1": 3, "a2": 1, "a3": 1}
    # Exhausted instructions are taken whole.
    assert {"a2-0", "a3-0"} <= set(s3.selected["A"])
    assert [e.id for e in s3.replay] == s3.selected["A"] + s3.selected["B"]


def test_dynamic_strategy_has_the_same_quotas() -> None:
    planner = make_planner("dynamic")
    for task in make_tasks():
        planner.add_task(task)
    assert [s.quotas for s in planner.stages] == [{}, {"A": 3}, {"A": 5, "B": 1}]
    assert planner.stages[2].insinfo == {}


def test_no_budget_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        planner = make_planner()
        for task in make_tasks():
            planner.add_task(task)
