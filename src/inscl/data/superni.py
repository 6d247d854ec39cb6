"""The SuperNI-16 task stream of InsCL: category mapping, the paper's orders, the builder.

InsCL (Wang et al., NAACL 2024) regroups Super-NaturalInstructions (Wang et al.,
EMNLP 2022) task files into 16 categories and trains on them one category per stage
in three orders (curriculum, reverse, random). This module

* maps a task file to its InsCL category (:data:`SUPERNI_TO_INSCL` plus a rule for
  "Question Answering", see :func:`inscl_category_of`),
* gives the orders (:data:`ORDERS`, :func:`resolve_order`),
* builds the stream (:func:`build_superni_stream`): per category an 80/20 split
  written as alpaca JSONL with a ``manifest.json``.

The mapping is NOT the paper's Appendix A.2 composition (not available offline): it is
the hand-made fallback recorded in ``shared/data/superni/mapping.json`` of this
project, embedded here so that nothing outside the package is read at run time. See
``docs/superni.md``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inscl.data.formats.superni import SuperNITaskFile, read_superni_task_file
from inscl.data.jsonio import read_json, write_json, write_jsonl
from inscl.data.task import Task, split_task
from inscl.errors import InputError

log = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = (
    "Classification", "Text_Quality_Evaluation", "Code", "Detection", "Sentiment_Analysis",
    "Comprehension", "Closed_QA", "Extraction", "Dialogue", "Program_Execution", "Rewriting",
    "Open_QA", "Misc", "Generation", "Summarization", "Mathematics",
)
"""The 16 InsCL categories in the paper's curriculum order."""

ORDERS: dict[str, list[str]] = {
    "curriculum": list(CATEGORIES),
    "reverse": list(reversed(CATEGORIES)),
    "random": [
        "Text_Quality_Evaluation", "Mathematics", "Dialogue", "Summarization", "Extraction", "Misc",
        "Closed_QA", "Code", "Rewriting", "Detection", "Comprehension", "Sentiment_Analysis", "Open_QA",
        "Program_Execution", "Generation", "Classification",
    ],
}
"""The paper's three task orders over the 16 categories ("random" is the paper's fixed
permutation; use ``"random:SEED"`` in :func:`resolve_order` for a fresh one)."""

QUESTION_ANSWERING = "Question Answering"

# SuperNI category (a task file's ``Categories`` entry) -> InsCL category.
# Source: the fallback mapping in shared/data/superni/mapping.json
# ("full_mapping_inscl_to_superni"), built from InsCL's 16 category names because the
# paper's Appendix A.2 could not be retrieved offline. "Question Answering" is split
# three ways by inscl_category_of(); the value here is its fallback.
SUPERNI_TO_INSCL: dict[str, str] = {
    # Classification
    "Text Categorization": "Classification",
    "Textual Entailment": "Classification",
    "Answerability Classification": "Classification",
    "Commonsense Classification": "Classification",
    "Coherence Classification": "Classification",
    "Cause Effect Classification": "Classification",
    "Word Relation Classification": "Classification",
    "Dialogue Act Recognition": "Classification",
    "Intent Identification": "Classification",
    "Discourse Relation Classification": "Classification",
    "Entity Relation Classification": "Classification",
    "Speaker Relation Classification": "Classification",
    "Spam Classification": "Classification",
    "Gender Classification": "Classification",
    # Text quality evaluation
    "Text Quality Evaluation": "Text_Quality_Evaluation",
    "Answer Verification": "Text_Quality_Evaluation",
    "Fact Verification": "Text_Quality_Evaluation",
    # Code
    "Code to Text": "Code",
    "Text to Code": "Code",
    # Detection
    "Toxic Language Detection": "Detection",
    "Irony Detection": "Detection",
    "Stereotype Detection": "Detection",
    "Grammar Error Detection": "Detection",
    "Spelling Error Detection": "Detection",
    "Punctuation Error Detection": "Detection",
    "Negotiation Strategy Detection": "Detection",
    "Stance Detection": "Detection",
    # Sentiment analysis
    "Sentiment Analysis": "Sentiment_Analysis",
    # Comprehension
    "Question Understanding": "Comprehension",
    "Coreference Resolution": "Comprehension",
    "Word Semantics": "Comprehension",
    "Linguistic Probing": "Comprehension",
    "Pos Tagging": "Comprehension",
    # Question answering: Closed_QA / Open_QA / Mathematics, decided per task file
    QUESTION_ANSWERING: "Open_QA",
    # Extraction
    "Information Extraction": "Extraction",
    "Named Entity Recognition": "Extraction",
    "Keyword Tagging": "Extraction",
    "Overlap Extraction": "Extraction",
    # Dialogue
    "Dialogue Generation": "Dialogue",
    "Dialogue State Tracking": "Dialogue",
    "Speaker Identification": "Dialogue",
    # Program execution
    "Program Execution": "Program_Execution",
    # Rewriting
    "Paraphrasing": "Rewriting",
    "Question Rewriting": "Rewriting",
    "Sentence Compression": "Rewriting",
    "Sentence Expansion": "Rewriting",
    "Text Simplification": "Rewriting",
    "Style Transfer": "Rewriting",
    "Grammar Error Correction": "Rewriting",
    "Sentence Perturbation": "Rewriting",
    # Misc
    "Misc.": "Misc",
    # Generation
    "Question Generation": "Generation",
    "Title Generation": "Generation",
    "Story Composition": "Generation",
    "Poem Generation": "Generation",
    "Data to Text": "Generation",
    "Sentence Composition": "Generation",
    "Text Completion": "Generation",
    "Wrong Candidate Generation": "Generation",
    "Explanation": "Generation",
    "Fill in The Blank": "Generation",
    # Summarization
    "Summarization": "Summarization",
    # Mathematics
    "Mathematics": "Mathematics",
}

# A QA task is closed-book-with-context (Closed_QA) when its definition talks about a
# given text, or its inputs carry a labelled context; math word problems (Domains
# "Mathematics") go to Mathematics, as in mapping.json's documented deviation.
_CONTEXT_WORDS = re.compile(
    r"\b(passages?|paragraphs?|context|story|stories|articles?|sentences?|associated facts?|given facts?"
    r"|documents?|tweets?|dialogues?|conversations?)\b", re.IGNORECASE)
_CONTEXT_LABEL = re.compile(
    r"^\s*(context|passage|paragraph|facts?|sentence|story|article|background|text|document)\s*:",
    re.IGNORECASE)


def _qa_category(tf: SuperNITaskFile) -> str:
    if any(d.split("->")[0].strip() == "Mathematics" for d in tf.domains):
        return "Mathematics"
    if _CONTEXT_WORDS.search(tf.instruction):
        return "Closed_QA"
    sample = tf.examples[:20]
    if sample and sum(bool(_CONTEXT_LABEL.match(e.input)) for e in sample) * 2 > len(sample):
        return "Closed_QA"
    return "Open_QA"


def inscl_category_of(tf: SuperNITaskFile, *, use_field: bool = True) -> str | None:
    """The InsCL category of a task file, or None when its categories are not mapped.

    An ``InsCL_Category`` field wins (when ``use_field``); otherwise the first of the
    file's ``Categories`` found in :data:`SUPERNI_TO_INSCL`. "Question Answering" goes
    to Mathematics when a Domain is Mathematics, to Closed_QA when the Definition speaks
    of a given passage/context/story/sentence/... or most inputs start with a context
    label ("Context:", "Passage:", ...), else to Open_QA.
    """
    if use_field and tf.inscl_category:
        return tf.inscl_category
    for cat in tf.categories:
        if cat == QUESTION_ANSWERING:
            return _qa_category(tf)
        if cat in SUPERNI_TO_INSCL:
            return SUPERNI_TO_INSCL[cat]
    return None


# --------------------------------------------------------------------------- orders


def resolve_order(name_or_list: str | Sequence[str], available_tasks: Sequence[str],
                  seed: int | None = None) -> list[str]:
    """Task names in training order.

    Args:
        name_or_list: a preset of :data:`ORDERS` (only categories present in
            ``available_tasks`` are kept, in preset order); ``"random:SEED"`` (or
            ``"shuffle"``, which uses ``seed``, default 0) for a seeded permutation of
            ``available_tasks``; or an explicit list (or a comma-separated string) of
            names, which selects and orders.
        available_tasks: the task names there are.
        seed: the seed of ``"shuffle"``.

    Raises:
        InputError: (field ``order``) an unknown preset or name, a duplicate, a bad seed,
            or a preset that keeps nothing.
    """
    available = list(available_tasks)
    present = set(available)
    if isinstance(name_or_list, str):
        name = name_or_list.strip()
        if name in ORDERS:
            kept = [c for c in ORDERS[name] if c in present]
            dropped = [t for t in available if t not in set(ORDERS[name])]
            if dropped:
                log.warning("order %r: tasks not in the preset are left out: %s", name, ", ".join(dropped))
            if not kept:
                raise InputError(f"preset {name!r} names none of the tasks ({', '.join(available)})",
                                 field="order")
            return kept
        if name == "shuffle" or name.startswith("random:"):
            raw = str(seed if seed is not None else 0) if name == "shuffle" else name.split(":", 1)[1]
            try:
                rng_seed = int(raw)
            except ValueError:
                raise InputError(f"bad seed in {name!r} (expected random:<integer>)", field="order") from None
            perm = sorted(available)  # independent of the input order
            random.Random(rng_seed).shuffle(perm)
            return perm
        names = [n.strip() for n in name.split(",") if n.strip()]
    else:
        names = list(name_or_list)
    unknown = [n for n in names if n not in present]
    if unknown:
        hint = "" if len(names) > 1 else f"; presets: {', '.join(ORDERS)}, random:SEED"
        raise InputError(f"unknown task {unknown[0]!r}; known tasks: {', '.join(available)}{hint}", field="order")
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise InputError(f"task {dup!r} is listed twice", field="order")
    if not names:
        raise InputError("empty order", field="order")
    return names


# --------------------------------------------------------------------------- collecting task files


@dataclass
class CategoryGroup:
    """The task files of one InsCL category, in stream order."""

    name: str
    files: list[SuperNITaskFile] = field(default_factory=list)

    def to_task(self) -> Task:
        examples = [replace(e, task=self.name) for tf in self.files for e in tf.examples]
        return Task(self.name, examples, {"source_files": [tf.file_name for tf in self.files], "format": "superni"})

    def source_of(self) -> dict[str, str]:
        """Example id -> task file name."""
        return {e.id: tf.file_name for tf in self.files for e in tf.examples}


@dataclass
class SuperNICollection:
    """What :func:`collect_superni` found: the groups and the files it left out."""

    tasks_dir: Path
    grouping: str  # "categories.json" | "file fields"
    groups: list[CategoryGroup]
    skipped: list[dict[str, str]]


def _locate(path: str | Path, categories_file: str | Path | None) -> tuple[Path, Path | None]:
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a directory", path=path, field="--tasks-dir")
    tasks_dir = path / "tasks" if (path / "tasks").is_dir() else path
    if categories_file is not None:
        categories_file = Path(categories_file)
        if not categories_file.is_file():
            raise InputError("no such file", path=categories_file, field="--categories")
        return tasks_dir, categories_file
    candidates = [path / "categories.json"]
    if tasks_dir == path and path.name == "tasks":
        candidates.append(path.parent / "categories.json")
    return tasks_dir, next((c for c in candidates if c.is_file()), None)


def _read_categories(categories_file: Path, tasks_dir: Path) -> list[tuple[str, list[Path]]]:
    doc = read_json(categories_file)
    text = categories_file.read_text(encoding="utf-8")
    if not isinstance(doc, dict):
        raise InputError("expected an object: category -> list of task files", path=categories_file)
    out: list[tuple[str, list[Path]]] = []
    claimed: dict[str, str] = {}
    for cat, entries in doc.items():
        line = text[:text.find(f'"{cat}"')].count("\n") + 1 if f'"{cat}"' in text else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise InputError("expected a list of task file names", path=categories_file, line=line, field=cat)
        files = []
        for i, entry in enumerate(entries):
            name = entry if entry.endswith(".json") else f"{entry}.json"
            f = tasks_dir / name
            if not f.is_file():
                pos = text.find(f'"{entry}"')
                raise InputError(f"task file {entry!r} not found in {tasks_dir}", path=categories_file,
                                 line=text[:pos].count("\n") + 1 if pos >= 0 else line, field=f"{cat}[{i}]")
            if name in claimed:
                raise InputError(f"task file {entry!r} is listed under {claimed[name]!r} too",
                                 path=categories_file, line=line, field=f"{cat}[{i}]")
            claimed[name] = cat
            files.append(f)
        out.append((cat, files))
    return out


def _progress(items: list[Any], progress: bool | None, desc: str) -> Any:
    enabled = sys.stderr.isatty() if progress is None else progress
    if not enabled:
        return items
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(items, desc=desc, unit="file")


def collect_superni(path: str | Path, categories_file: str | Path | None = None,
                    max_per_task: int | None = None, progress: bool | None = False) -> SuperNICollection:
    """Reads SuperNI task files and groups them into InsCL categories.

    With a categories file (``categories_file``, or ``categories.json`` in ``path``) its
    grouping and order are used. Without one (e.g. a natural-instructions checkout,
    whose ``tasks/README.md`` is ignored) every ``tasks/*.json`` is read and grouped by
    :func:`inscl_category_of`; categories then follow :data:`CATEGORIES`, unknown
    category names after them, sorted. Non-English files and files whose categories
    are not mapped are skipped with a warning; categories left empty are dropped.
    """
    if max_per_task is not None and (isinstance(max_per_task, bool) or not isinstance(max_per_task, int)
                                     or max_per_task < 1):
        raise InputError(f"must be a positive integer, got {max_per_task!r}", field="--max-per-task")
    tasks_dir, cat_file = _locate(path, categories_file)
    skipped: list[dict[str, str]] = []
    groups: dict[str, CategoryGroup] = {}

    def skip(tf: SuperNITaskFile, reason: str) -> None:
        log.warning("%s: skipped (%s)", tf.path, reason)
        skipped.append({"file": tf.file_name, "reason": reason})

    if cat_file is not None:
        listed = _read_categories(cat_file, tasks_dir)
        work = [(cat, f) for cat, files in listed for f in files]
        for cat, f in _progress(work, progress, "reading task files"):
            tf = read_superni_task_file(f, max_per_task)
            group = groups.setdefault(cat, CategoryGroup(cat))
            if not tf.english:
                skip(tf, "not English")
            else:
                group.files.append(tf)
        grouping = "categories.json"
    else:
        files = sorted(tasks_dir.glob("*.json"))
        if not files:
            raise InputError("no task files (*.json) and no categories.json", path=tasks_dir, field="--tasks-dir")
        for f in _progress(files, progress, "reading task files"):
            tf = read_superni_task_file(f, max_per_task)
            if not tf.english:
                skip(tf, "not English")
                continue
            cat = inscl_category_of(tf)
            if cat is None:
                skip(tf, f"categories {tf.categories} not in SUPERNI_TO_INSCL")
                continue
            groups.setdefault(cat, CategoryGroup(cat)).files.append(tf)
        rank = {c: i for i, c in enumerate(CATEGORIES)}
        groups = dict(sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        grouping = "file fields"
    kept = []
    for group in groups.values():
        if not any(tf.examples for tf in group.files):
            log.warning("category %s: no English examples, left out", group.name)
            continue
        seen: dict[str, str] = {}
        for tf in group.files:
            for e in tf.examples:
                if e.id in seen:
                    raise InputError(f"instance id {e.id!r} is also in {seen[e.id]} (same category {group.name})",
                                     path=tf.path, field="Instances.id")
                seen[e.id] = tf.file_name
        kept.append(group)
    if not kept:
        raise InputError("no English task files to use", path=tasks_dir, field="--tasks-dir")
    return SuperNICollection(tasks_dir, grouping, kept, skipped)


# --------------------------------------------------------------------------- the builder


def _prepare_out_dir(out_dir: Path, inputs: Sequence[str | Path] = ()) -> None:
    from inscl.outdir import overlap

    hit = overlap(out_dir, inputs)
    if hit is not None:  # the build replaces out_dir as a whole: it must not hold or sit in an input
        raise InputError(f"{hit[1]} the input path {hit[0]}; writing there could destroy your data "
                         "(choose an output folder outside the inputs)", path=out_dir, field="--out")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputError("exists and is not a directory", path=out_dir, field="--out")
        if any(out_dir.iterdir()) and not (out_dir / "manifest.json").is_file():
            raise InputError("exists, is not empty and is not a stream build (no manifest.json); "
                             "choose another --out", path=out_dir, field="--out")


def _publish(tmp: Path, out_dir: Path) -> None:
    """Swaps the finished build in: readers see the old build or the new one, never half."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def build_superni_stream(
    tasks_dir: str | Path,
    categories_file: str | Path | None = None,
    *,
    out_dir: str | Path,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_per_task: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Builds the SuperNI-16 stream: per category a seeded train/test split as alpaca JSONL.

    Args:
        tasks_dir: a natural-instructions checkout (``tasks/*.json``, grouped by each
            file's ``Categories``) or a SuperNI subset folder (``categories.json`` +
            ``tasks/``, or files with an ``InsCL_Category`` field). The ``tasks``
            folder itself is accepted too.
        categories_file: category -> task files; default ``categories.json`` there.
        out_dir: written atomically (a temp folder renamed at the end); an existing
            build there is replaced, any other non-empty folder is refused.
        test_fraction: share of each category's instances in the test file,
            split with :func:`inscl.data.task.split_task` (seeded by ``seed`` and the
            category name).
        seed: the split seed.
        max_per_task: keep the first N instances of each task file.
        progress: a tqdm bar while reading; default on when stderr is a terminal.

    Writes ``<Category>.train.jsonl``, ``<Category>.test.jsonl`` (records ``instruction,
    input, output, id, task`` = category, ``source`` = task file name) and
    ``manifest.json``; returns the manifest.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0.0 <= float(test_fraction) < 1.0:
        raise InputError(f"must be in [0, 1), got {test_fraction!r}", field="--test-fraction")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"must be an integer, got {seed!r}", field="--seed")
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, [p for p in (tasks_dir, categories_file) if p is not None])
    collection = collect_superni(tasks_dir, categories_file, max_per_task, progress)
    entries = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for group in collection.groups:
            task = group.to_task()
            source = group.source_of()
            train, test = split_task(task, test_fraction=float(test_fraction), seed=seed)
            for split, part in (("train", train), ("test", test)):
                write_jsonl(tmp / f"{group.name}.{split}.jsonl",
                            ({**e.to_alpaca(), "source": source[e.id]} for e in part.examples))
            entries.append({
                "name": group.name,
                "source_files": [tf.file_name for tf in group.files],
                "instances": {tf.file_name: len(tf.examples) for tf in group.files},
                "train": len(train), "test": len(test),
                "instructions": len(task.instructions()),
            })
        manifest = {
            "format": "inscl-superni-stream/1",
            "grouping": collection.grouping,
            "order": [e["name"] for e in entries],
            "seed": seed,
            "test_fraction": float(test_fraction),
            "max_per_task": max_per_task,
            "categories": entries,
            "skipped": collection.skipped,
        }
        write_json(tmp / "manifest.json", manifest)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
