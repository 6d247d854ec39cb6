"""inscl.replay.tags: tag normalisation (simplemma) and DBSCAN merging of near-synonym tags.

Tag embeddings come from a small fixed table of vectors (an input to the clustering,
not a stand-in for it): each synonym group points in its own direction, with small
angular offsets so the cosine distances inside a group stay well under eps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from inscl.encoders.base import Encoder
from inscl.replay.tags import canonicalize_instruction_tags, merge_tags, normalize_tag


def direction(axis: int, wiggle: float = 0.0, dim: int = 4) -> np.ndarray:
    """A unit vector near basis vector ``axis``, rotated by ``wiggle`` radians towards the next axis."""
    v = np.zeros(dim)
    v[axis] = math.cos(wiggle)
    v[(axis + 1) % dim] = math.sin(wiggle)
    return v


# Three synonym groups (cosine distance inside a group <= 1 - cos(0.3) ~ 0.045 < eps 0.1)
# and one isolated tag. 0.1 rad apart: neighbours within a group are well inside eps.
TABLE = {
    "summarize": direction(0, 0.0), "summary": direction(0, 0.1), "summarization": direction(0, 0.2),
    "abstract": direction(0, 0.3),
    "translate": direction(1, 0.0), "translation": direction(1, 0.1), "interpret": direction(1, 0.2),
    "classify": direction(2, 0.0), "categorize": direction(2, 0.1), "label": direction(2, 0.2),
    "arithmetic": direction(3, 0.0),
}


class TableEncoder:
    """Deterministic encoder: looks tags up in TABLE and counts calls."""

    id = "table-v1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([TABLE[t] for t in texts]).astype(np.float32)


def test_table_encoder_satisfies_protocol():
    assert isinstance(TableEncoder(), Encoder)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Sentiment-Analysis", "sentiment analysis"),
        ("Classifying_Texts 2", "classify text"),
        ("  Question   Answering ", "question answer"),
        ("Translations (EN->FR)", "translation en fr"),
        ("summarizing", "summarize"),
        ("Café reviews", "café review"),
        ("123 !!", ""),
        ("", ""),
    ],
)
def test_normalize_tag(raw, expected):
    assert normalize_tag(raw) == expected


def test_normalize_tag_is_idempotent():
    for raw in ["Sentiment-Analysis", "Classifying_Texts 2", "Translations (EN->FR)", "wrote Stories"]:
        once = normalize_tag(raw)
        assert normalize_tag(once) == once


def test_merge_tags_names_clusters_by_most_frequent_member():
    tags = ["summary", "summarize", "summary", "summarization", "abstract", "summary",
            "translate", "translation", "translation", "interpret", "arithmetic"]
    names = merge_tags(tags, np.stack([TABLE[t] for t in tags]), eps=0.1, min_samples=2)
    assert names == {
        "summary": "summary", "summarize": "summary", "summarization": "summary", "abstract": "summary",
        "translate": "translation", "translation": "translation", "interpret": "translation",
        "arithmetic": "arithmetic",  # noise: keeps its own name
    }


def test_merge_tags_breaks_frequency_ties_alphabetically():
    tags = ["label", "classify", "categorize"]  # each once
    names = merge_tags(tags, np.stack([TABLE[t] for t in tags]), eps=0.1, min_samples=2)
    assert set(names.values()) == {"categorize"}


def test_merge_tags_accepts_one_row_per_distinct_tag():
    tags = ["summary", "summary", "summarize", "arithmetic"]
    per_entry = merge_tags(tags, np.stack([TABLE[t] for t in tags]), eps=0.1, min_samples=2)
    per_distinct = merge_tags(tags, np.stack([TABLE[t] for t in ["summary", "summarize", "arithmetic"]]),
                              eps=0.1, min_samples=2)
    assert per_entry == per_distinct == {"summary": "summary", "summarize": "summary", "arithmetic": "arithmetic"}


def test_merge_tags_min_samples_too_high_leaves_every_tag_alone():
    tags = ["summary", "summarize", "translate"]
    names = merge_tags(tags, np.stack([TABLE[t] for t in tags]), eps=0.1, min_samples=5)
    assert names == {t: t for t in tags}


def test_merge_tags_edge_cases_and_validation():
    assert merge_tags([], np.zeros((0, 4))) == {}
    assert merge_tags(["solo"], np.ones((1, 4)), min_samples=1) == {"solo": "solo"}
    with pytest.raises(ValueError, match="one row per tag"):
        merge_tags(["a", "b", "c"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="eps"):
        merge_tags(["a"], np.ones((1, 4)), eps=0)
    with pytest.raises(ValueError, match="min_samples"):
        merge_tags(["a"], np.ones((1, 4)), min_samples=0)
    with pytest.raises(ValueError, match="2-D"):
        merge_tags(["a"], np.ones(4))


def test_canonicalize_normalises_merges_and_dedupes_per_instruction():
    raw = {
        "Summarise the article.": ["Summary", "summarization", "Summarize!"],
        "Give a short abstract.": ["abstract", "summary"],
        "Translate to French.": ["Translation", "translate", "interpret"],
        "Compute 2+2.": ["Arithmetic", "123"],  # "123" normalises to "" and is dropped
        "Untagged.": [],
    }
    encoder = TableEncoder()
    out = canonicalize_instruction_tags(raw, encoder, eps=0.1, min_samples=2)
    assert list(out) == list(raw)
    # "summary" is carried by 2 instructions, the other summary tags by 1 -> cluster name "summary".
    assert out["Summarise the article."] == ["summary"]
    assert out["Give a short abstract."] == ["summary"]
    # translation / translate / interpret each carried once: the alphabetically first names the cluster.
    assert out["Translate to French."] == ["interpret"]
    assert out["Compute 2+2."] == ["arithmetic"]
    assert out["Untagged."] == []
    # Each distinct normalised tag is embedded exactly once, in a single call.
    assert len(encoder.calls) == 1 and sorted(encoder.calls[0]) == sorted(set(encoder.calls[0]))


def test_canonicalize_without_encoder_only_normalises():
    out = canonicalize_instruction_tags({"s": ["Summaries", "summary", "!!"]}, None)
    assert out == {"s": ["summary"]}


def test_canonicalize_rejects_string_instead_of_list():
    with pytest.raises(TypeError, match="list of strings"):
        canonicalize_instruction_tags({"s": "summary"}, None)  # type: ignore[dict-item]
