"""Scoring one generation against its references: SuperNI's official ROUGE-L by default.

Two metrics, chosen by ``evaluation.metric`` in the experiment config and recorded in
``results.json``:

* ``superni-rougeL`` (default) -- the English ("default") track of SuperNI's official
  evaluation (``eval/automatic/evaluation.py`` of allenai/natural-instructions):
  ``rouge_score``'s RougeScorer(["rougeL"], use_stemmer=True), i.e. its default tokenizer
  (lower case, every run of characters other than ``a-z0-9`` is a separator) with Porter
  stemming of tokens longer than 3 characters, and the best F-measure over all the
  references of the instance (``metric_max_over_ground_truths``).
* ``rougeL-first`` -- the runner's earlier score: the same tokenizer without stemming,
  against the first reference only.

Scores are in 0..1 (the official script reports 100x the mean).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_METRIC", "METRICS", "Scorer", "make_scorer"]

DEFAULT_METRIC = "superni-rougeL"

#: metric name -> one-line description (shown in reports).
METRICS: dict[str, str] = {
    "superni-rougeL": "ROUGE-L F, Porter-stemmed, best over all references (SuperNI evaluation.py)",
    "rougeL-first": "ROUGE-L F, unstemmed, first reference only",
}


@dataclass(frozen=True)
class Scorer:
    """Scores a prediction against its references under one of :data:`METRICS`."""

    name: str
    rouge: Any  # rouge_score.rouge_scorer.RougeScorer

    @property
    def description(self) -> str:
        return METRICS[self.name]

    def score(self, prediction: str, references: Sequence[str]) -> float:
        """The metric of one prediction; ``references`` must hold at least one string."""
        if isinstance(references, str):
            raise TypeError("references must be a sequence of strings, not a string")
        if not references:
            raise ValueError("at least one reference is needed")
        if self.name == "rougeL-first":
            return self._rouge_l(prediction, references[0])
        return max(self._rouge_l(prediction, r) for r in references)

    def _rouge_l(self, prediction: str, reference: str) -> float:
        return float(self.rouge.score(target=reference, prediction=prediction)["rougeL"].fmeasure)


def make_scorer(name: str = DEFAULT_METRIC) -> Scorer:
    """The :class:`Scorer` of metric ``name`` (a key of :data:`METRICS`)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
    from rouge_score import rouge_scorer

    logging.getLogger("absl").setLevel(logging.WARNING)  # "Using default tokenizer" on every scorer
    return Scorer(name, rouge_scorer.RougeScorer(["rougeL"], use_stemmer=name == "superni-rougeL"))
