"""An LLM-free intention tagger: key phrases of the instruction, ranked by embedding.

Candidates come from two simple heuristics over the lower-cased, lemmatised
(simplemma) instruction:

* **task verbs and their objects** — a verb from :data:`TASK_VERBS` ("classify",
  "translate", "generate", ...) gives the tag ``"<verb>"`` and, when a content word
  follows within a few stopwords, ``"<verb> <object>"`` with the head (last word) of
  that content run as object (e.g. "answer basic science questions" -> "answer question");
* **key phrases** — maximal runs of content words between stopwords and punctuation
  (RAKE-style), at most three words long (e.g. "movie review", "sentiment").

Each candidate is scored by the cosine between its embedding and the instruction's
(with the given encoder; default the deterministic hashing encoder), plus a small
bonus for task verbs and for phrases that recur in the instruction; the top ``k``
distinct candidates are the tags. The tags are lexical: they only name what the
instruction literally says, carry no world knowledge and no paraphrase of intent
(an LLM would tag "Is this review positive?" with "sentiment analysis"; this tagger
says "review", "positive").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from inscl.encoders.base import Encoder
from inscl.errors import ConfigError
from inscl.taggers.result import TagResult

#: Verbs (lemmas) that state what the instruction asks for.
TASK_VERBS = frozenset("""
answer ask assign calculate categorize categorise change check choose classify combine compare complete
compose compute convert correct count create decide describe detect determine edit evaluate explain
extract fill find fix format generate give grade guess identify infer judge label list locate match
order output paraphrase parse pick predict provide rank rate reason recognize recognise remove reorder
rephrase replace respond return reverse rewrite select simplify solve sort specify split suggest
summarize summarise tag tell translate verify write""".split())  # noqa: SIM905 (a word list reads better)

#: Instruction boilerplate that carries no intention; with scikit-learn's English stopwords
#: (imported on first use, so that building the tagger to read its cache costs nothing).
BOILERPLATE = frozenset(set("""
task given input output example examples following note ll ve don doesn shouldn won isn aren
t s d m re e g i.e etc also based using use must need needs job just make sure like
way ones provided contain contains containing valid correct appropriate please form st nd rd th
""".split())) - TASK_VERBS  # noqa: SIM905


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Words that carry no intention on their own: English stopwords and instruction boilerplate."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS | BOILERPLATE) - TASK_VERBS

_TOKEN = re.compile(r"[A-Za-z]+|[^\sA-Za-z]")


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """The simplemma English lemma of a lower-case word."""
    import simplemma

    return simplemma.lemmatize(word, lang="en").lower()


@dataclass(frozen=True)
class Candidate:
    phrase: str
    kind: str  # "verb", "verb-object" or "phrase"
    count: int


def candidates(instruction: str, max_phrase_words: int = 3, max_gap: int = 3) -> list[Candidate]:
    """Candidate tags of one instruction, in first-seen order with their counts."""
    tokens = [t.lower() for t in _TOKEN.findall(instruction)]
    words = [(lemma(t) if t.isalpha() else None) for t in tokens]  # None marks punctuation/digits
    found: dict[str, Candidate] = {}

    def add(phrase: str, kind: str) -> None:
        old = found.get(phrase)
        found[phrase] = Candidate(phrase, old.kind if old else kind, (old.count if old else 0) + 1)

    stop = stopwords()

    def content(i: int) -> bool:
        w, t = words[i], tokens[i]
        return w is not None and len(w) > 1 and t not in stop and w not in stop

    for i, w in enumerate(words):
        if w is None or w not in TASK_VERBS or tokens[i] in ("given", "provided"):
            continue
        add(w, "verb")
        j, gap = i + 1, 0
        while j < len(words) and words[j] is not None and not content(j) and gap < max_gap:
            j, gap = j + 1, gap + 1
        end = j
        while (end < len(words) and content(end) and words[end] not in TASK_VERBS
               and end - j < max_phrase_words):
            end += 1
        if end > j:  # the object is the head (last word) of the content run after the verb
            add(f"{w} {words[end - 1]}", "verb-object")
    run: list[str] = []
    for i in range(len(words) + 1):
        if i < len(words) and content(i):
            run.append(words[i])  # type: ignore[arg-type]
            continue
        if run:
            add(" ".join(run[-max_phrase_words:]), "phrase")  # the head of a long run is its end
            run = []
    return list(found.values())


class OfflineTagger:
    """Key-phrase intention tags without an LLM (see the module docstring).

    Parameters: ``encoder`` ranks candidates (default :class:`HashingEncoder`);
    ``top_k`` tags per instruction; ``verb_bonus`` added to the score of task verbs
    and verb-object phrases (so the requested action is usually kept); ``repeat_bonus``
    times log(count) for phrases the instruction repeats.
    """

    def __init__(self, encoder: Encoder | None = None, top_k: int = 5, verb_bonus: float = 0.15,
                 repeat_bonus: float = 0.05) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"top_k must be an integer >= 1, got {top_k!r}", field="top_k")
        if verb_bonus < 0 or repeat_bonus < 0:
            raise ConfigError("verb_bonus and repeat_bonus must be >= 0", field="verb_bonus")
        if encoder is None:
            from inscl.encoders.hashing import HashingEncoder

            encoder = HashingEncoder()
        self.encoder = encoder
        self.top_k = top_k
        self.verb_bonus = verb_bonus
        self.repeat_bonus = repeat_bonus
        self.id = f"offline:k={top_k},vb={verb_bonus:g},rb={repeat_bonus:g},enc={encoder.id}"

    def _rank(self, instructions: list[str]) -> dict[str, list[str]]:
        cands = [candidates(s) for s in instructions]
        phrases = list(dict.fromkeys(c.phrase for cs in cands for c in cs))
        emb = np.asarray(self.encoder.encode(list(instructions) + phrases), dtype=np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        inst_emb, index = emb[:len(instructions)], {p: len(instructions) + i for i, p in enumerate(phrases)}
        out: dict[str, list[str]] = {}
        for s, e, cs in zip(instructions, inst_emb, cands):
            scored = []
            for order, c in enumerate(cs):
                score = float(emb[index[c.phrase]] @ e) + self.repeat_bonus * math.log(c.count)
                if c.kind != "phrase":
                    score += self.verb_bonus
                scored.append((-round(score, 6), order, c.phrase))  # rounding: stable ties across BLAS
            out[s] = [p for _, _, p in sorted(scored)[:self.top_k]]
        return out

    def tag_iter(self, instructions: Sequence[str], chunk: int = 256) -> Iterator[TagResult]:
        unique = list(dict.fromkeys(instructions))
        for start in range(0, len(unique), chunk):
            for s, tags in self._rank(unique[start:start + chunk]).items():
                yield TagResult(s, tags)

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        return {r.instruction: r.tags or [] for r in self.tag_iter(instructions)}
