"""DBSCAN ``eps`` for tag merging, calibrated per tag encoder.

A cosine distance means something different for every encoder: the paper's eps 0.1 was
chosen for phrase-BERT; with MiniLM no two SuperNI tags are that close. So eps is
calibrated per encoder on a labelled set of tag pairs taken from the LLM (InsTag-style)
tags of the SuperNI definitions (:data:`CALIBRATION_PAIRS`): phrase-level synonyms that
should merge ("summarization" / "text summarization") and distinct intents that share
words and must not ("sentiment analysis" / "sentiment generation").

:func:`calibrate` picks the largest eps (a pair merges when its cosine distance is
<= eps) that merges no distinct pair of the set, halfway to the closest one;
``min_samples`` is 2, so that one synonym pair is enough to form a cluster. The chosen values live in
``tag_calibration.json`` next to this module, keyed by encoder id;
:func:`merge_parameters` returns them as the planner's defaults when eps is not set
(uncalibrated encoders fall back to the paper's eps 0.1 and min_samples 5).
``python bench/tag_agreement.py --recalibrate`` recomputes the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from inscl.replay.tags import normalize_tag

__all__ = ["CALIBRATION_FILE", "CALIBRATION_PAIRS", "Calibration", "calibrate", "load_calibrations",
           "merge_parameters"]

CALIBRATION_FILE = Path(__file__).with_name("tag_calibration.json")

#: The paper's DBSCAN parameters, used for encoders without a calibration.
FALLBACK_EPS = 0.1
FALLBACK_MIN_SAMPLES = 5
#: One synonym pair makes a cluster.
CALIBRATED_MIN_SAMPLES = 2

#: ``(tag a, tag b, should merge)``: tags of ../shared/data/superni/llm-tags.jsonl (normalised),
#: plus the issue's examples. Synonyms are the same intention in other words; the others
#: share words but ask for different things.
CALIBRATION_PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("sentiment analysis", "sentiment classification", True),
    ("question answering", "answer question", True),
    ("summarization", "text summarization", True),
    ("common sense", "common sense knowledge", True),
    ("emotion classification", "emotion detection", True),
    ("fact check", "fact verification", True),
    ("concise answer", "short answer", True),
    ("single answer", "unique answer", True),
    ("single answer", "single correct answer", True),
    ("binary classification", "binary label", True),
    ("binary classification", "true false classification", True),
    ("mathematical calculation", "arithmetic calculation", True),
    ("math word problem", "math problem solve", True),
    ("text rewrite", "sentence rewrite", True),
    ("scientific knowledge", "scientific understand", True),
    ("dialogue context", "conversational context", True),
    ("natural language inference", "textual entailment", True),
    ("entailment classification", "textual entailment", True),
    ("name entity recognition", "entity label", True),
    ("product review", "product review analysis", True),
    ("dialogue understand", "dialogue analysis", True),
    ("emotion inference", "emotion detection", True),
    ("text simplification", "simple language", True),
    ("spam detection", "spam classification", True),
    ("sentiment analysis", "sentiment generation", False),
    ("sentiment analysis", "sentiment transfer", False),
    ("question answer", "question generation", False),
    ("question generation", "question classification", False),
    ("sql query generation", "sql query correction", False),
    ("sql query generation", "sql syntax explanation", False),
    ("text summarization", "text classification", False),
    ("dialogue summarization", "dialogue response generation", False),
    ("emotion classification", "question classification", False),
    ("time format conversion", "date format conversion", False),
    ("answer generation", "incorrect answer generation", False),
    ("summary verification", "text summarization", False),
    ("sentence generation", "sentence compression", False),
    ("sentence splitting", "sentence rearrangement", False),
    ("word order reversal", "word order error detection", False),
    ("irony detection", "spam detection", False),
    ("offensive language detection", "stance detection", False),
    ("input format", "output format", False),
    ("poem generation", "query generation", False),
    ("prime number check", "leap year check", False),
    ("binary classification", "multi class classification", False),
    ("text rewrite", "text comparison", False),
    ("name entity recognition", "gender identification", False),
    ("common sense reason", "logical reason", False),
)


@dataclass(frozen=True)
class Calibration:
    """The calibrated DBSCAN parameters of one tag encoder and how they split the pairs."""

    encoder: str
    eps: float
    min_samples: int
    synonyms_merged: int
    synonyms: int
    distinct_merged: int
    distinct: int
    pairs: tuple[tuple[str, str, bool, float], ...] = ()  # (a, b, should merge, cosine distance)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        return d


def pair_distances(encoder: Any, pairs: Sequence[tuple[str, str, bool]] = CALIBRATION_PAIRS) -> np.ndarray:
    """Cosine distance of every pair after the planner's tag normalisation."""
    a = [normalize_tag(x) for x, _, _ in pairs]
    b = [normalize_tag(y) for _, y, _ in pairs]
    texts = list(dict.fromkeys(a + b))
    emb = np.asarray(encoder.encode(texts), dtype=np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    row = {t: i for i, t in enumerate(texts)}
    return np.array([1.0 - float(emb[row[x]] @ emb[row[y]]) for x, y in zip(a, b)])


def calibrate(encoder: Any, pairs: Sequence[tuple[str, str, bool]] = CALIBRATION_PAIRS) -> Calibration:
    """The eps that merges as many synonym pairs as possible and no distinct pair.

    A false merge fuses two intentions for good (and DBSCAN chains merges), a missed
    synonym only leaves two names for one intention, so distinct pairs are a hard limit:
    eps is the midpoint between the largest synonym distance below the closest distinct
    pair and that distinct pair's distance (rounded to 4 decimals). With no synonym below
    it, eps is half the closest distinct distance (nothing of the set merges).
    """
    d = pair_distances(encoder, pairs)
    merge = np.array([m for _, _, m in pairs], dtype=bool)
    limit = float(d[~merge].min()) if (~merge).any() else 2.0
    below = d[merge & (d < limit)]
    eps = (float(below.max()) + limit) / 2 if len(below) else limit / 2
    eps = round(min(eps, 2.0), 4)
    merged = d <= eps
    return Calibration(encoder=str(encoder.id), eps=eps, min_samples=CALIBRATED_MIN_SAMPLES,
                       synonyms_merged=int(np.sum(merged & merge)), synonyms=int(merge.sum()),
                       distinct_merged=int(np.sum(merged & ~merge)), distinct=int((~merge).sum()),
                       pairs=tuple((x, y, bool(m), round(float(v), 4)) for (x, y, m), v in zip(pairs, d)))


@lru_cache(maxsize=1)
def load_calibrations(path: Path = CALIBRATION_FILE) -> dict[str, dict[str, Any]]:
    """``{encoder id: calibration dict}`` from the packaged file (empty when it is absent)."""
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return dict(doc.get("encoders", {}))


def merge_parameters(encoder_id: str | None, eps: float | None = None,
                     min_samples: int | None = None) -> tuple[float, int, str]:
    """``(eps, min_samples, source)`` for DBSCAN tag merging with the encoder ``encoder_id``.

    Values given win (source ``"config"``); otherwise the encoder's calibration
    (``"calibrated"``), else the paper's 0.1 / 5 (``"fallback"``). A given eps without
    min_samples takes min_samples from the same place as the default eps would.
    """
    entry = load_calibrations().get(str(encoder_id)) if encoder_id is not None else None
    default_eps = float(entry["eps"]) if entry else FALLBACK_EPS
    default_min = int(entry["min_samples"]) if entry else FALLBACK_MIN_SAMPLES
    source = "calibrated" if entry else "fallback"
    if eps is not None or min_samples is not None:
        source = "config"
    return (float(eps) if eps is not None else default_eps,
            int(min_samples) if min_samples is not None else default_min, source)
