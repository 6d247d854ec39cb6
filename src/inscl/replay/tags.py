"""Intention tags: normalisation and merging of near-synonyms.

Raw tags (from a tagger) are normalised -- lower case, every non-letter turned into a
space, each word lemmatised with simplemma -- and near-synonyms are merged by DBSCAN
with the cosine metric over the tags' embeddings. Each cluster is named by its most
frequent member; tags DBSCAN calls noise keep their own name.

:func:`merge_tags` runs scikit-learn's DBSCAN over all tags at once. :class:`TagMerger`
gives the same clusters incrementally, as a stream brings new tags: only the new tags'
neighbourhoods are searched (against every tag seen), so a stage costs
``O(new x seen x dim)`` instead of a DBSCAN over everything (see its docstring for why
the result equals the full DBSCAN's).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import simplemma

from inscl.encoders.base import Encoder

__all__ = ["TagMerger", "canonicalize_instruction_tags", "merge_tags", "normalize_tag"]

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
    from sklearn.cluster import DBSCAN  # here: the planner's TagMerger does not need it

    labels = DBSCAN(eps=float(eps), min_samples=int(min_samples), metric="cosine").fit_predict(emb)
    names = {t: t for t in distinct}
    # Every label 0..max is a cluster (the paper's code iterates range(max(labels)) and skips the last).
    for label in np.unique(labels[labels >= 0]):
        members = [distinct[i] for i in np.flatnonzero(labels == label)]
        name = min(members, key=lambda t: (-frequency[t], t))
        for t in members:
            names[t] = name
    return names


class TagMerger:
    """Incremental DBSCAN (cosine metric) over a growing, ordered set of distinct tags.

    :meth:`add` appends new distinct tags (first-seen order, already normalised) and
    searches their eps-neighbourhoods among all tags seen, in blocks (float32 products,
    pairs near the threshold re-checked in float64 as scikit-learn computes cosine
    distances). Neighbourhoods only grow, so core points stay core and clusters only
    merge: after each :meth:`add`, every core point whose neighbourhood changed is
    united (union-find) with its core neighbours, which is all the new core-core edges.

    The clusters equal ``DBSCAN(eps, min_samples, metric="cosine")`` over all tags in
    their order: a cluster is a connected component of core points plus the border
    points next to it; scikit-learn expands clusters from core points in index order,
    so a border point next to several clusters joins the one whose smallest core index
    is smallest -- what :meth:`labels` does. Memory: the tags' float32 embeddings and
    their neighbour lists.
    """

    def __init__(self, encoder: Encoder, eps: float = 0.1, min_samples: int = 5, block: int = 1024) -> None:
        if not (isinstance(eps, (int, float, np.floating)) and 0 < eps <= 2):
            raise ValueError(f"eps must be a number in (0, 2], got {eps!r}")
        if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
            raise ValueError(f"min_samples must be an integer >= 1, got {min_samples!r}")
        self.encoder = encoder
        self.eps = float(eps)
        self.min_samples = int(min_samples)
        self.block = int(block)
        self.tags: list[str] = []
        self.index: dict[str, int] = {}
        self._raw: Any = np.zeros((0, 0), dtype=np.float32)  # dense, or CSR for sparse embeddings
        self._norms = np.zeros(0, dtype=np.float64)
        self._neighbours: list[list[int]] = []  # excluding the point itself
        self._parent = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.tags)

    def add(self, tags: Sequence[str]) -> int:
        """Adds the tags not seen yet (in the order given); returns how many were new."""
        new = [t for t in dict.fromkeys(str(t) for t in tags) if t not in self.index]
        if not new:
            return 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            emb = np.asarray(self.encoder.encode(new), dtype=np.float32)
        if emb.ndim != 2 or len(emb) != len(new):
            raise ValueError(f"encoder {getattr(self.encoder, 'id', self.encoder)!r} returned shape {emb.shape} "
                             f"for {len(new)} tags")
        if not np.all(np.isfinite(emb)):
            raise ValueError("embeddings contain NaN or infinite values")
        start = len(self.tags)
        if start and emb.shape[1] != self._raw.shape[1]:
            raise ValueError(f"tag embeddings changed dimension: {self._raw.shape[1]} -> {emb.shape[1]}")
        # The float32 rows as given and their float64 norms: the exact check normalises in
        # float64 on demand, as merge_tags does, without keeping a float64 copy.
        norms = np.sqrt(np.einsum("ij,ij->i", emb.astype(np.float64), emb.astype(np.float64)))
        from scipy.sparse import csr_matrix, issparse, vstack

        if start == 0:
            # Hashing vectors of short tags are ~2% non-zero: CSR keeps 100k tags in ~50 MB, not 800.
            self._raw = csr_matrix(emb) if np.count_nonzero(emb) <= 0.25 * emb.size else emb
        elif issparse(self._raw):
            self._raw = vstack([self._raw, csr_matrix(emb)], format="csr")
        else:
            self._raw = np.concatenate([self._raw, emb])
        self._norms = np.concatenate([self._norms, norms])
        for k, t in enumerate(new):
            self.index[t] = start + k
        self.tags.extend(new)
        self._neighbours.extend([] for _ in new)
        self._parent = np.concatenate([self._parent, np.arange(start, len(self.tags))])
        changed = self._search(start)
        core = self._core()
        for i in changed:
            if core[i]:
                for j in self._neighbours[i]:
                    if core[j]:
                        self._union(i, j)
        return len(new)

    def _search(self, start: int) -> set[int]:
        """Neighbour lists of the new tags [start, n) and the points whose lists changed."""
        limit = 1.0 - self.eps
        margin = 1e-4  # float32 products: anything this close to the threshold is re-checked exactly
        n = len(self.tags)
        inv = np.divide(1.0, self._norms, out=np.zeros_like(self._norms), where=self._norms > 0).astype(np.float32)
        changed: set[int] = set(range(start, n))
        # Queries per block: the (seen x block) product stays under ~64 MB however many tags are seen.
        step = max(16, min(self.block, (1 << 24) // max(1, n)))
        for s in range(start, n, step):
            rows_q = np.arange(s, min(n, s + step))
            sims = np.asarray(self._raw @ self._dense(rows_q).T)  # (seen, block)
            sims *= inv[:, None]
            sims *= inv[rows_q][None, :]
            cols, rows = np.nonzero(sims >= limit - margin)
            if not len(rows):
                continue
            qi = rows_q[rows]
            # Exact check, as scikit-learn: distance = clip(1 - <u, v>, 0, 2) in float64, self at 0.
            exact = np.clip(1.0 - np.einsum("ij,ij->i", self._unit64(qi), self._unit64(cols)), 0.0, 2.0)
            ok = (exact <= self.eps) & (qi != cols)
            for i, j in zip(qi[ok].tolist(), cols[ok].tolist()):
                if start <= j < i:
                    continue  # a pair of new tags: recorded once, from the smaller index
                self._neighbours[i].append(j)
                self._neighbours[j].append(i)
                changed.add(j)
        return changed

    def _dense(self, rows: np.ndarray) -> np.ndarray:
        part = self._raw[rows]
        return part.toarray() if hasattr(part, "toarray") else np.asarray(part)

    def _unit64(self, rows: np.ndarray) -> np.ndarray:
        raw = self._dense(rows).astype(np.float64)
        norms = self._norms[rows][:, None]
        return np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)

    def _core(self) -> np.ndarray:
        counts = np.fromiter((len(nb) + 1 for nb in self._neighbours), dtype=np.int64, count=len(self.tags))
        return counts >= self.min_samples

    def _find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def _union(self, i: int, j: int) -> None:
        ri, rj = self._find(i), self._find(j)
        if ri != rj:
            # The smaller index becomes the root: a component's root is its smallest core index.
            lo, hi = (ri, rj) if ri < rj else (rj, ri)
            self._parent[hi] = lo

    def labels(self) -> np.ndarray:
        """DBSCAN labels of the tags seen (-1: noise), clusters numbered as scikit-learn does."""
        core = self._core()
        n = len(self.tags)
        root = np.full(n, -1, dtype=np.int64)
        for i in np.flatnonzero(core).tolist():
            root[i] = self._find(i)
        for i in np.flatnonzero(~core).tolist():
            roots = [root[j] for j in self._neighbours[i] if core[j]]
            if roots:
                root[i] = min(roots)  # the cluster expanded first reaches the border point first
        # Clusters are numbered in the order of their smallest core index (their root).
        seeds = np.unique(root[root >= 0])
        labels = np.full(n, -1, dtype=np.int64)
        has = root >= 0
        labels[has] = np.searchsorted(seeds, root[has])
        return labels

    def names(self, frequency: Mapping[str, int]) -> dict[str, str]:
        """``{tag: cluster name}`` for every tag seen: the most frequent member (ties: alphabetical)."""
        labels = self.labels()
        names = {t: t for t in self.tags}
        members: dict[int, list[str]] = {}
        for t, label in zip(self.tags, labels.tolist()):
            if label >= 0:
                members.setdefault(label, []).append(t)
        for group in members.values():
            name = min(group, key=lambda t: (-frequency.get(t, 0), t))
            for t in group:
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
