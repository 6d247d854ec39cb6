"""An LLM-free intention tagger: one intention-level tag per intention unit of the instruction.

InsInfo (``sum over tags of log(N / f_tag)``) rewards instructions that state many
intentions, and shared, coarse intentions weigh less than specific ones. LLM tags
(InsTag) carry both signals: how many intentions an instruction has (their count
correlates 0.82 with LLM-tag InsInfo on the SuperNI definitions) and a vocabulary
shared across instructions. This tagger imitates both, without a model:

* **how many intentions** -- the instruction is cut into *intention units*: sentences
  (and ``;`` / ``:`` clauses), and a sentence longer than ``clause_words`` words is cut
  further at commas and conjunctions into pieces of at least ``clause_words // 2``
  words. Each unit states one intention, so the number of tags follows what the
  instruction asks, not a fixed top-k (``top_k`` only caps it);
* **a shared vocabulary of intention-level tags** -- each unit gets one tag, tried in
  this order: the unit's task verb and its object as a nominalised intention
  (``"classify the sentiment"`` -> ``sentiment classification``, ``"answer basic science
  questions"`` -> ``question answering``, :data:`INTENT_NOUNS`); else a constraint class
  from :data:`CONSTRAINT_TAGS` (``output format``, ``length constraint``, ``binary
  classification``, ``multiple choice``, ``example provision``); else the task verb alone
  (``translation``); else the unit's best key phrase (RAKE-style run of content words, at
  most three). Within a tier, candidates are ranked by cosine to the unit with the given
  encoder (default: the deterministic hashing encoder) plus ``repeat_bonus * log(count)``.

The rules and their two numbers (``clause_words`` 20, ``top_k`` 8) are hand-set, not
fitted: ``bench/tag_agreement.py`` prints how offline InsInfo ranks the SuperNI
definitions against LLM-tag InsInfo for a range of ``clause_words``. The tags stay
lexical beyond the vocabulary: no world knowledge (an LLM tags "Is this review
positive?" with *sentiment analysis*; this tagger says ``review``).
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

#: Verbs (lemmas) that state what the instruction asks for. Not "correct": in instructions it is
#: nearly always the adjective ("choose the correct answer").
TASK_VERBS = frozenset("""
answer ask assign calculate categorize categorise change check choose classify combine compare complete
compose compute convert count create decide describe detect determine edit evaluate explain
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


#: Task verb (lemma) -> the noun naming its intention; ``verb object`` becomes ``object noun``.
INTENT_NOUNS: dict[str, str] = {
    "answer": "answering", "ask": "question", "assign": "assignment", "calculate": "calculation",
    "categorize": "categorization", "categorise": "categorization", "change": "change", "check": "checking",
    "choose": "selection", "classify": "classification", "combine": "combination", "compare": "comparison",
    "complete": "completion", "compose": "composition", "compute": "computation", "convert": "conversion",
    "count": "counting", "create": "creation", "decide": "decision",
    "describe": "description", "detect": "detection", "determine": "determination", "edit": "editing",
    "evaluate": "evaluation", "explain": "explanation", "extract": "extraction", "fill": "filling",
    "find": "finding", "fix": "correction", "format": "formatting", "generate": "generation", "give": "provision",
    "grade": "grading", "guess": "guessing", "identify": "identification", "infer": "inference",
    "judge": "judgment", "label": "labeling", "list": "listing", "locate": "location", "match": "matching",
    "order": "ordering", "output": "output", "paraphrase": "paraphrasing", "parse": "parsing", "pick": "selection",
    "predict": "prediction", "provide": "provision", "rank": "ranking", "rate": "rating", "reason": "reasoning",
    "recognize": "recognition", "recognise": "recognition", "remove": "removal", "reorder": "reordering",
    "rephrase": "rephrasing", "replace": "replacement", "respond": "response", "return": "output",
    "reverse": "reversal", "rewrite": "rewriting", "select": "selection", "simplify": "simplification",
    "solve": "solving", "sort": "sorting", "specify": "specification", "split": "splitting",
    "suggest": "suggestion", "summarize": "summarization", "summarise": "summarization", "tag": "tagging",
    "tell": "telling", "translate": "translation", "verify": "verification", "write": "writing",
}

#: Intention-level tags for units that state a constraint rather than a task, with their cues.
_CONSTRAINT_CUES = (
    ("binary classification", (r"\b(yes|true|positive|correct|agree)\W+(or|and|/)\W+(no|false|negative|incorrect|"
                               r"disagree)\b|\btwo (categories|classes|labels|options)\b")),
    ("multiple choice", r"\b(options?|choices?)\b|\(a\)"),
    ("length constraint", (r"\b(shorter|concise|brief|length|at most|no more than|less than|fewer than|maximum|"
                           r"minimum|single word|one word|\d+ words?)\b")),
    ("output format", (r"\b(answer|output|response|reply)\W+(should|must|will|has to|needs to)\b|"
                       r"\b(in the (form|format)|format)\b|\b(do not|don't|should not|must not|avoid)\b")),
    ("example provision", r"\b(e\.?g\b|for example|for instance)"),
)
#: Intention-level tags for units that state a constraint rather than a task, with their cues.
CONSTRAINT_TAGS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (tag, re.compile(cue, re.IGNORECASE)) for tag, cue in _CONSTRAINT_CUES)

# Sentence and clause ends; abbreviations with a dot are protected first.
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|etc|vs|cf)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_CLAUSE_BREAK = re.compile(r",\s+|\s+(?:and then|then|and|which|where|so that|while|but)\s+")
_WORD = re.compile(r"[A-Za-z]+")


def intention_units(instruction: str, clause_words: int = 20) -> list[str]:
    """The instruction cut into units that each state one intention (see the module docstring).

    Fragments with fewer than 3 words are dropped (they attach to nothing); an
    instruction without any unit is one unit.
    """
    text = _ABBREVIATION.sub(lambda m: m.group(1), instruction)
    units: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(_WORD.findall(sentence)) < 3:
            continue
        if len(sentence.split()) <= clause_words:
            units.append(sentence)
            continue
        piece, start = "", len(units)
        for part in _CLAUSE_BREAK.split(sentence):
            piece = f"{piece} {part}".strip()
            if len(piece.split()) >= max(5, clause_words // 2):
                units.append(piece)
                piece = ""
        if piece:  # a short tail joins the previous piece of the same sentence
            if len(units) > start and len(piece.split()) < 5:
                units[-1] = f"{units[-1]} {piece}"
            else:
                units.append(piece)
    return units or [instruction]


def intent_tag(verb_object: str) -> str:
    """``"classify sentiment"`` -> ``"sentiment classification"``; a bare verb -> its intention noun."""
    verb, _, obj = verb_object.partition(" ")
    return f"{obj} {INTENT_NOUNS.get(verb, verb)}".strip()


class OfflineTagger:
    """Intention-unit tags without an LLM (see the module docstring).

    Parameters: ``encoder`` ranks candidates within a tier (default :class:`HashingEncoder`);
    ``top_k`` caps the tags of one instruction (the count itself follows the instruction);
    ``clause_words`` is the longest unit before a sentence is cut at commas and
    conjunctions; ``repeat_bonus`` times log(count) favours phrases the unit repeats.
    """

    def __init__(self, encoder: Encoder | None = None, top_k: int = 8, clause_words: int = 20,
                 repeat_bonus: float = 0.05) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"top_k must be an integer >= 1, got {top_k!r}", field="top_k")
        if isinstance(clause_words, bool) or not isinstance(clause_words, int) or clause_words < 2:
            raise ConfigError(f"clause_words must be an integer >= 2, got {clause_words!r}", field="clause_words")
        if not isinstance(repeat_bonus, (int, float)) or repeat_bonus < 0:
            raise ConfigError(f"repeat_bonus must be a number >= 0, got {repeat_bonus!r}", field="repeat_bonus")
        if encoder is None:
            from inscl.encoders.hashing import HashingEncoder

            encoder = HashingEncoder()
        self.encoder = encoder
        self.top_k = top_k
        self.clause_words = clause_words
        self.repeat_bonus = float(repeat_bonus)
        # "units": a new algorithm than the top-k key phrases, so caches of the old one are not reused.
        self.id = f"offline:units,k={top_k},cw={clause_words},rb={repeat_bonus:g},enc={encoder.id}"

    def _tiers(self, unit: str) -> list[list[tuple[str, str, int]]]:
        """Candidate ``(tag, phrase embedded for ranking, count)`` of one unit, by tier."""
        cands = candidates(unit)
        verb_objects = [(intent_tag(c.phrase), c.phrase, c.count) for c in cands if c.kind == "verb-object"]
        constraints = [(tag, tag, 1) for tag, cue in CONSTRAINT_TAGS if cue.search(unit)]
        verbs = [(intent_tag(c.phrase), c.phrase, c.count) for c in cands if c.kind == "verb"]
        phrases = [(c.phrase, c.phrase, c.count) for c in cands if c.kind == "phrase"]
        return [verb_objects, constraints[:1], verbs, phrases]

    def _tag_all(self, instructions: list[str]) -> dict[str, list[str]]:
        units = {s: intention_units(s, self.clause_words) for s in instructions}
        tiers = {u: self._tiers(u) for us in units.values() for u in us}
        texts = list(dict.fromkeys([u for us in units.values() for u in us]
                                   + [p for ts in tiers.values() for tier in ts for _, p, _ in tier]))
        emb = np.asarray(self.encoder.encode(texts), dtype=np.float32) if texts else np.zeros((0, 1), np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        row = {t: i for i, t in enumerate(texts)}
        out: dict[str, list[str]] = {}
        for s, us in units.items():
            tags: list[str] = []
            for u in us:
                if len(tags) == self.top_k:
                    break
                for tier in tiers[u]:
                    scored = [(-round(float(emb[row[p]] @ emb[row[u]]) + self.repeat_bonus * math.log(n), 6), k, tag)
                              for k, (tag, p, n) in enumerate(tier) if tag not in tags]
                    if scored:  # rounding: stable ties across BLAS builds; then first seen
                        tags.append(min(scored)[2])
                        break
            out[s] = tags
        return out

    def tag_iter(self, instructions: Sequence[str], chunk: int = 256) -> Iterator[TagResult]:
        unique = list(dict.fromkeys(instructions))
        for start in range(0, len(unique), chunk):
            for s, tags in self._tag_all(unique[start:start + chunk]).items():
                yield TagResult(s, tags)

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        return {r.instruction: r.tags or [] for r in self.tag_iter(instructions)}
