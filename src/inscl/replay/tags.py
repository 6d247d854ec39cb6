"""Intention tags: normalisation and merging of near-synonyms.

Raw tags (from a tagger) are normalised -- lower case, every non-letter turned into a
space, each word lemmatised with simplemma -- and near-synonyms are merged by DBSCAN
with the cosine metric over the tags' embeddings. Each cluster is named by its most
frequent member; tags DBSCAN calls noise keep their own name.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import simplemma
from sklearn.cluster import DBSCAN

from inscl.encoders.base import Encoder

__all__ = ["canonicalize_instruction_tags", "merge_tags", "normalize_tag"]

# Anything that is not a letter: digits, underscores, punctuation, whitespace.
_NON_LETTER = re.compile(r"[\W\d_]+")


def normalize_tag(tag: str) -> str:
    """Lower case, non-letters to single spaces, every word lemmatised (English); "" if nothing is left."""
    words = _NON_LETTER.sub(" ", str(tag).lower()).split()
    return " ".join(simplemma.lemmatize(w, lang="en").lower() for w in words).strip()


def merge_tags(tags: Sequence[str], embeddings: np.ndarray, eps: float = 0.1,
               min_samples: int = 5) -> dict[str, str]:
    """Map every distinct tag of ``tags`` to the name of its DBSCAN cluster.

    ``tags`` may repeat a tag; a tag's frequency is how often it occurs in ``tags``.
    ``embeddings`` has one row per entry of ``tags`` or one row per distinct tag (in
    first-seen order). DBSCAN (cosine metric, ``eps``, ``min_samples``) runs over the
    distinct tags; each cluster -- all of them, the last included -- is named by its
    most frequent member (ties: alphabetically first); noise points keep their name.
    """
    if not (isinstance(eps, (int, float, np.floating)) and 0 < eps <= 2):
        raise ValueError(f"eps must be a number in (0, 2], got {eps!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise ValueError(f"min_samples must be an integer >= 1, got {min_samples!r}")
    tags = [str(t) for t in tags]
    frequency = Counter(tags)
    distinct = list(frequency)  # Counter keeps first-seen order
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {emb.shape}")
    if len(emb) == len(tags):
        first_row = {}
        for row, t in enumerate(tags):
            first_row.setdefault(t, row)
        emb = emb[[first_row[t] for t in distinct]]
    elif len(emb) != len(distinct):
        raise ValueError(f"embeddings must have one row per tag ({len(tags)}) or per distinct tag "
                         f"({len(distinct)}), got {len(emb)}")
    if not distinct:
        return {}
    if not np.all(np.isfinite(emb)):
        raise ValueError("embeddings contain NaN or infinite values")
    labels = DBSCAN(eps=float(eps), min_samples=int(min_samples), metric="cosine").fit_predict(emb)
    names = {t: t for t in distinct}
    # Every label 0..max is a cluster (the paper's code iterates range(max(labels)) and skips the last).
    for label in np.unique(labels[labels >= 0]):
        members = [distinct[i] for i in np.flatnonzero(labels == label)]
        name = min(members, key=lambda t: (-frequency[t], t))
        for t in members:
            names[t] = name
    return names


def canonicalize_instruction_tags(instruction_tags: Mapping[str, Sequence[str]], encoder: Encoder | None,
                                  eps: float = 0.1, min_samples: int = 5) -> dict[str, list[str]]:
    """``{instruction: raw tags}`` -> ``{instruction: canonical tags}`` (normalised, merged, deduplicated).

    A tag's frequency for naming clusters is the number of instructions carrying it.
    The distinct normalised tags are embedded with ``encoder`` and merged with
    :func:`merge_tags`; with ``encoder=None`` tags are only normalised. Empty tags are
    dropped; each instruction keeps its tags' first-seen order.
    """
    normalised: dict[str, list[str]] = {}
    for instruction, raw in instruction_tags.items():
        if isinstance(raw, str):
            raise TypeError(f"tags of instruction {instruction[:60]!r} must be a list of strings, got a string")
        normalised[instruction] = list(dict.fromkeys(t for t in (normalize_tag(r) for r in raw) if t))
    occurrences = [t for tags in normalised.values() for t in tags]
    if encoder is None or not occurrences:
        return normalised
    distinct = list(dict.fromkeys(occurrences))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero-norm rows in the cosine metric
        emb = np.asarray(encoder.encode(distinct))
        if emb.ndim != 2 or len(emb) != len(distinct):
            raise ValueError(f"encoder {getattr(encoder, 'id', encoder)!r} returned shape {emb.shape} "
                             f"for {len(distinct)} tags")
        names = merge_tags(occurrences, emb, eps=eps, min_samples=min_samples)
    return {s: list(dict.fromkeys(names[t] for t in tags)) for s, tags in normalised.items()}
