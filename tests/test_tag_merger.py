"""TagMerger (incremental DBSCAN) gives the clusters of scikit-learn's DBSCAN over all tags.

Real inputs: the InsTag-style tags of the shared SuperNI subset (llm-tags.jsonl, parsed
here directly) and about 5,000 distinct offline-tagger tags of the SuperNI examples,
embedded with the hashing encoder. The reference is sklearn's DBSCAN (merge_tags), the
thing the merger must reproduce.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from inscl.encoders.hashing import HashingEncoder
from inscl.replay.tags import TagMerger, merge_tags, normalize_tag


def superni_llm_tags(superni_dir) -> list[list[str]]:
    """Normalised tags of each line of llm-tags.jsonl, in file order."""
    out = []
    for line in (superni_dir / "llm-tags.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        tags = [t["tag"] if isinstance(t, dict) else t for t in record["tags"]]
        out.append(list(dict.fromkeys(n for n in map(normalize_tag, tags) if n)))
    return out


def offline_tags(superni_dir, limit: int) -> list[list[str]]:
    """Offline-tagger tags of SuperNI example inputs until ``limit`` distinct tags are reached."""
    from inscl.data import load_tasks
    from inscl.taggers.offline import OfflineTagger

    texts = list(dict.fromkeys(e.input for t in load_tasks([superni_dir]) for e in t.examples if e.input))
    tagged = OfflineTagger(top_k=5).tag(texts)
    out, seen = [], set()
    for s in texts:
        tags = list(dict.fromkeys(n for n in map(normalize_tag, tagged[s]) if n))
        out.append(tags)
        seen.update(tags)
        if len(seen) >= limit:
            break
    return out


def full_labels(tags: list[str], encoder, eps: float, min_samples: int) -> np.ndarray:
    # float64, as merge_tags (the planner's reference) gives DBSCAN.
    emb = np.asarray(encoder.encode(tags), dtype=np.float64)
    return DBSCAN(eps=eps, min_samples=min_samples, metric="cosine").fit_predict(emb)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal labels up to renumbering (noise -1 must match exactly)."""
    if not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def check_stream(per_instruction: list[list[str]], stages: int, eps: float, min_samples: int) -> tuple[int, int]:
    """Adds the instructions' tags in ``stages`` chunks; after each, compares with a full DBSCAN.

    Returns (clusters, border points) of the final state, so callers can assert the case is not trivial.
    """
    encoder = HashingEncoder()
    merger = TagMerger(encoder, eps=eps, min_samples=min_samples)
    bounds = np.linspace(0, len(per_instruction), stages + 1).astype(int)
    for lo, hi in itertools.pairwise(bounds):
        merger.add([t for tags in per_instruction[lo:hi] for t in tags])
        seen = list(dict.fromkeys(t for tags in per_instruction[:hi] for t in tags))
        assert merger.tags == seen
        got, want = merger.labels(), full_labels(seen, encoder, eps, min_samples)
        assert np.array_equal(got, want) or same_partition(got, want)
        # And the names (what the planner uses) match merge_tags on the same occurrences.
        occurrences = [t for tags in per_instruction[:hi] for t in tags]
        emb = encoder.encode(seen)
        assert merger.names(Counter(occurrences)) == merge_tags(occurrences, emb, eps=eps, min_samples=min_samples)
    labels = merger.labels()
    core = merger._core()
    return len(set(labels[labels >= 0].tolist())), int(((labels >= 0) & ~core).sum())


@pytest.mark.parametrize("eps, min_samples", [(0.1, 5), (0.45, 2), (0.6, 3)])
def test_incremental_merge_equals_dbscan_on_superni_llm_tags(superni_dir, eps, min_samples):
    per_instruction = superni_llm_tags(superni_dir)
    assert len({t for tags in per_instruction for t in tags}) > 250
    clusters, border = check_stream(per_instruction, stages=16, eps=eps, min_samples=min_samples)
    if eps >= 0.45:
        assert clusters > 0  # not vacuous: tags really merge
    if (eps, min_samples) == (0.6, 3):
        assert border > 0  # border points exercise the tie rule


def test_incremental_merge_equals_dbscan_on_5k_tags(superni_dir):
    per_instruction = offline_tags(superni_dir, 5000)
    distinct = len({t for tags in per_instruction for t in tags})
    assert distinct >= 4000
    clusters, border = check_stream(per_instruction, stages=4, eps=0.5, min_samples=3)
    assert clusters > 10 and border > 0


def test_merger_validates_and_ignores_repeats():
    with pytest.raises(ValueError, match="eps"):
        TagMerger(HashingEncoder(), eps=0)
    with pytest.raises(ValueError, match="min_samples"):
        TagMerger(HashingEncoder(), min_samples=0)
    merger = TagMerger(HashingEncoder(), eps=0.5, min_samples=2)
    assert merger.add(["summary", "summarize", "summary"]) == 2
    assert merger.add(["summary"]) == 0
    assert len(merger) == 2
