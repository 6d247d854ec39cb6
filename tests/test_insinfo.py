"""inscl.replay.insinfo: InsInfo = sum over an instruction's tags of log(N / f_tag)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inscl.replay.insinfo import insinfo_scores


def test_insinfo_worked_example_four_instructions():
    # N = 4. f(a) = 3 (s1, s2, s3), f(b) = 1, f(c) = 1, f(d) = 2 (s3, s4).
    # s1 = log(4/3) + log(4/1)             = 0.28768 + 1.38629 = 1.67398
    # s2 = log(4/3)  ("a" twice counts once) = 0.28768
    # s3 = log(4/3) + log(4/1) + log(4/2)  = 0.28768 + 1.38629 + 0.69315 = 2.36712
    # s4 = log(4/2)                        = 0.69315
    scores = insinfo_scores({"s1": ["a", "b"], "s2": ["a", "a"], "s3": ["a", "c", "d"], "s4": ["d"]})
    assert list(scores) == ["s1", "s2", "s3", "s4"]
    assert scores["s1"] == pytest.approx(1.673976, abs=1e-6)
    assert scores["s2"] == pytest.approx(0.287682, abs=1e-6)
    assert scores["s3"] == pytest.approx(2.367124, abs=1e-6)
    assert scores["s4"] == pytest.approx(0.693147, abs=1e-6)
    assert scores["s1"] == pytest.approx(math.log(4 / 3) + math.log(4))


def test_untagged_instruction_scores_zero_and_still_counts_in_n():
    # N = 2 (the untagged instruction counts), f(x) = 1 -> log 2.
    assert insinfo_scores({"s1": ["x"], "s2": []}) == {"s1": pytest.approx(math.log(2)), "s2": 0.0}


def test_tag_on_every_instruction_carries_no_information():
    assert insinfo_scores({"s1": ["common"], "s2": ["common"], "s3": ["common"]}) == {"s1": 0.0, "s2": 0.0,
                                                                                    "s3": 0.0}


def test_scores_depend_on_the_instructions_given():
    # Adding instructions (a later stage) changes N and f: scores are recomputed, not cached.
    stage1 = insinfo_scores({"s1": ["a"], "s2": ["b"]})
    stage2 = insinfo_scores({"s1": ["a"], "s2": ["b"], "s3": ["b"], "s4": ["c"]})
    assert stage1["s1"] == pytest.approx(math.log(2))
    assert stage2["s1"] == pytest.approx(math.log(4))
    assert stage2["s2"] == pytest.approx(math.log(2))


def test_empty_input_and_string_tags():
    assert insinfo_scores({}) == {}
    with pytest.raises(TypeError, match="list of strings"):
        insinfo_scores({"s": "abc"})  # type: ignore[dict-item]


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=5),
                       st.lists(st.sampled_from("abcdefg"), max_size=5), min_size=1, max_size=12))
def test_insinfo_properties(table):
    scores = insinfo_scores(table)
    n = len(table)
    assert list(scores) == list(table)
    for s, tags in table.items():
        assert 0.0 <= scores[s] <= len(set(tags)) * math.log(n) + 1e-12
        # Order and repetition of tags do not matter.
        permuted = dict(table)
        permuted[s] = list(reversed(tags)) + list(tags)
        assert insinfo_scores(permuted)[s] == pytest.approx(scores[s], abs=1e-12)
