"""The generated demo task stream: small rule-based tasks a tiny LoRA can learn in a few steps.

Every task has one deterministic rule (so answers can be checked) and several instruction
phrasings, from terse to detailed. Phrasings share words across tasks ("number", "word",
"write", "list") so that instruction embeddings and intention tags carry signal: the
arithmetic and list tasks sit close together, the string and formatting tasks elsewhere.
Phrasings are drawn with unequal weights, so the "real" instruction distribution of a
task differs from the uniform one.

The stream is written like any user dataset: one alpaca JSONL file per task in a
directory (``<task>.jsonl``) plus ``manifest.json`` holding the task order, which
:func:`inscl.data.load_tasks` reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from inscl.data.jsonio import write_json, write_jsonl
from inscl.data.task import Example, Task
from inscl.errors import InputError

# --- value pools (short, single-token-ish words keep sequences short) -------------------

_WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "garden", "rocket", "candle",
          "forest", "silver", "window", "dragon", "pencil", "orange", "castle", "bridge", "planet", "violin",
          "market", "butter", "camera", "jacket", "mirror", "island", "rabbit", "ticket", "winter", "yellow"]
_FIRST = ["Ada", "Alan", "Grace", "Linus", "Marie", "Isaac", "Nina", "Omar", "Priya", "Carlos", "Mei", "Ivan",
          "Sofia", "Kenji", "Lena", "Tom", "Fatima", "Hugo", "Zara", "Diego"]
_LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Curie", "Newton", "Simone", "Haddad", "Patel", "Ruiz",
         "Chen", "Petrov", "Rossi", "Tanaka", "Berg", "Baker", "Khan", "Moreau", "Ali", "Lopez"]
_CITIES = ["Paris", "Lisbon", "Tokyo", "Cairo", "Berlin", "Madrid", "Oslo", "Lima", "Dublin", "Rome",
           "Vienna", "Prague", "Seoul", "Austin", "Denver", "Boston", "Milan", "Delhi", "Quito", "Athens"]
_CITY_TEMPLATES = ["{name} moved to {city} last year.", "{name} flew to {city} on Monday.",
                   "We met {name} in {city}.", "{name} lives in {city} now.",
                   "The train to {city} left without {name}.", "{name} bought a flat in {city}."]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_POSITIVE = ["great", "lovely", "wonderful", "excellent", "fantastic", "delightful"]
_NEGATIVE = ["awful", "terrible", "boring", "horrible", "dreadful", "disappointing"]
_SUBJECTS = ["The movie", "The meal", "The hotel", "The concert", "The book", "The trip", "The game"]


@dataclass(frozen=True)
class TaskSpec:
    """One demo task: its kind, instruction phrasings (with draw weights) and its rule.

    ``make(rng) -> (input, output)`` draws one input and computes the answer by the rule.
    """

    name: str
    kind: str
    instructions: tuple[str, ...]
    weights: tuple[float, ...]
    make: Callable[[random.Random], tuple[str, str]]


def _add_numbers(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 49), rng.randint(1, 49)
    return f"{a} and {b}", str(a + b)


def _uppercase_word(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(_WORDS)
    return word, word.upper()


def _even_or_odd(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(1, 999)
    return str(n), "even" if n % 2 == 0 else "odd"


def _extract_city(rng: random.Random) -> tuple[str, str]:
    city = rng.choice(_CITIES)
    sentence = rng.choice(_CITY_TEMPLATES).format(name=rng.choice(_FIRST), city=city)
    return sentence, city


def _list_max(rng: random.Random) -> tuple[str, str]:
    values = rng.sample(range(1, 100), rng.randint(3, 5))
    return ", ".join(map(str, values)), str(max(values))


def _name_last_first(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return f"{first} {last}", f"{last}, {first}"


def _date_to_iso(rng: random.Random) -> tuple[str, str]:
    year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return f"{_MONTHS[month - 1]} {day}, {year}", f"{year:04d}-{month:02d}-{day:02d}"


def _keyword_sentiment(rng: random.Random) -> tuple[str, str]:
    positive = rng.random() < 0.5
    word = rng.choice(_POSITIVE if positive else _NEGATIVE)
    return f"{rng.choice(_SUBJECTS)} was {word}.", "positive" if positive else "negative"


# Weights: the first (most common) phrasing dominates, the detailed ones are rarer.
_W6 = (0.3, 0.2, 0.15, 0.15, 0.1, 0.1)
_W5 = (0.35, 0.25, 0.15, 0.15, 0.1)

TASK_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec("add_numbers", "arithmetic", (
        "Add the two numbers.",
        "What is the sum of the two numbers?",
        "Add them.",
        "Calculate the total of the numbers in the input.",
        "Compute the sum of the two numbers and answer with the number only.",
        "You are given two whole numbers. Add them together and write the result as digits.",
    ), _W6, _add_numbers),
    TaskSpec("uppercase_word", "string transformation", (
        "Write the word in capital letters.",
        "Uppercase the word.",
        "Convert the word to upper case.",
        "Rewrite the given word so that every letter is a capital letter.",
        "You are given one lowercase word. Write the same word again using only uppercase letters.",
    ), _W5, _uppercase_word),
    TaskSpec("even_or_odd", "classification", (
        "Is the number even or odd?",
        "Classify the number as even or odd.",
        "Even or odd?",
        "Answer even if the number is divisible by two, otherwise answer odd.",
        "Decide whether the given whole number is even or odd and write one word: even or odd.",
        "Label the number: even or odd.",
    ), _W6, _even_or_odd),
    TaskSpec("extract_city", "extraction", (
        "Which city is mentioned in the sentence?",
        "Extract the city name.",
        "Find the city in the sentence.",
        "Read the sentence and write the name of the city it mentions.",
        "You are given one sentence about a person. Extract the city from the sentence and write only its name.",
    ), _W5, _extract_city),
    TaskSpec("list_max", "list operation", (
        "Find the largest number in the list.",
        "What is the maximum of the list?",
        "Return the biggest number.",
        "Write the largest of the numbers in the list.",
        "You are given a comma separated list of numbers. Write the number with the highest value.",
        "Pick the maximum.",
    ), _W6, _list_max),
    TaskSpec("name_last_first", "formatting", (
        "Write the name as Last, First.",
        "Reformat the name: last name, comma, first name.",
        "Put the last name first.",
        "Rewrite the person's name so that the surname comes first, followed by a comma and the first name.",
        "You are given a full name. Format the name as the last name, a comma and the first name.",
    ), _W5, _name_last_first),
    TaskSpec("date_to_iso", "formatting", (
        "Write the date in ISO format.",
        "Convert the date to YYYY-MM-DD.",
        "Format the date as year-month-day.",
        "Rewrite the given date in the ISO 8601 format, with a four digit year and two digit month and day.",
        "You are given a date written in words. Convert the date to the format YYYY-MM-DD.",
    ), _W5, _date_to_iso),
    TaskSpec("keyword_sentiment", "classification", (
        "Is the sentence positive or negative?",
        "Classify the sentiment of the sentence.",
        "Positive or negative?",
        "Read the review sentence and answer positive or negative.",
        ("Decide whether the sentence expresses a positive or a negative opinion and write one word: "
         "positive or negative."),
        "Label the sentiment: positive or negative.",
    ), _W6, _keyword_sentiment),
)

MANIFEST_FILE = "manifest.json"
TASK_NAMES: tuple[str, ...] = tuple(spec.name for spec in TASK_SPECS)
_SPECS_BY_NAME = {spec.name: spec for spec in TASK_SPECS}


def task_spec(name: str) -> TaskSpec:
    """The spec of a demo task by name (raises :class:`InputError` for an unknown name)."""
    try:
        return _SPECS_BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown demo task {name!r}; choose from {', '.join(TASK_NAMES)}",
                         field="tasks") from None


def generate_task(spec: TaskSpec, n_examples: int, seed: int = 0) -> Task:
    """``n_examples`` examples of one task; depends only on ``seed`` and the task name.

    Each phrasing appears at least once (when ``n_examples`` allows), the rest are drawn
    by the spec's weights; inputs are drawn independently of the phrasing.
    """
    if n_examples < 1:
        raise InputError(f"n_examples must be >= 1, got {n_examples}", field="n_examples")
    rng = random.Random(f"inscl-demo:{seed}:{spec.name}")
    phrasings = list(spec.instructions[:n_examples])
    phrasings += rng.choices(spec.instructions, weights=spec.weights, k=n_examples - len(phrasings))
    rng.shuffle(phrasings)
    examples = []
    for i, instruction in enumerate(phrasings):
        source, answer = spec.make(rng)
        examples.append(Example(instruction, source, answer, f"{spec.name}-{i:04d}", spec.name))
    return Task(spec.name, examples, {"kind": spec.kind, "generator": "inscl.demo", "seed": seed})


def generate_stream(n_examples: int = 60, seed: int = 0, tasks: Sequence[str] | None = None) -> list[Task]:
    """The demo stream: ``tasks`` (default: all of :data:`TASK_NAMES`) in the given order."""
    names = list(tasks) if tasks is not None else list(TASK_NAMES)
    if len(set(names)) != len(names):
        raise InputError("demo tasks must be distinct", field="tasks")
    return [generate_task(task_spec(name), n_examples, seed) for name in names]


def write_stream(directory: str | Path, n_examples: int = 60, seed: int = 0,
                 tasks: Sequence[str] | None = None) -> list[Path]:
    """Writes one alpaca JSONL per task (``<task>.jsonl``) and ``manifest.json``; returns the task files.

    Each file is written atomically, so an interrupted call leaves no half-written file.
    """
    directory = Path(directory)
    stream = generate_stream(n_examples, seed, tasks)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in stream:
        path = directory / f"{task.name}.jsonl"
        write_jsonl(path, (e.to_alpaca() for e in task.examples))
        paths.append(path)
    # The loader reads the task order from manifest.json (file names sort alphabetically).
    write_json(directory / MANIFEST_FILE, {
        "order": [t.name for t in stream], "generator": "inscl.demo.stream", "seed": seed,
        "n_examples": n_examples, "kinds": {t.name: t.metadata["kind"] for t in stream}})
    return paths


# --- the many-instruction stream ------------------------------------------------------------
#
# Each task bundles several *intents* (sub-rules over the same kind of input, e.g. "extract the
# city" / "extract the first name" / "extract the month" from one sentence), and each intent is
# phrased in many ways, composed from an opener, a context sentence, a core verb phrase and an
# answer-format ending. That gives ~200 phrasings per intent, dozens to hundreds of distinct
# instructions per task in a sample. They differ in informativeness (a bare "Month?" names the
# intent; "You are given a sentence... Write the month only." also names input and format),
# intents are drawn with unequal weights and phrasings follow a Zipf law, so replay that picks
# by instruction (InsCL) and replay that picks by example frequency (random) choose differently.


@dataclass(frozen=True)
class Intent:
    """One rule of a many-instruction task: its core phrasings, the answer format and the rule."""

    name: str
    cores: tuple[str, ...]  # verb phrases, lower case, no final period ("extract the city")
    answer: str  # the answer format, for endings ("the city name")
    make: Callable[[random.Random], tuple[str, str]]


@dataclass(frozen=True)
class ManyTaskSpec:
    """A many-instruction task: a kind, the input described in words, intents and their weights."""

    name: str
    kind: str
    input_desc: str
    intents: tuple[Intent, ...]
    weights: tuple[float, ...]


_OPENERS = ("{Core}.", "Please {core}.", "Task: {core}.", "Your job is to {core}.", "{Core}")
_CONTEXTS = ("", "You are given {input}. ", "Read {input}. ", "The input is {input}. ")
_ENDINGS = ("", " Answer with {answer} only.", " Write {answer} and nothing else.", " Do not explain.")


def _person_sentence(rng: random.Random) -> tuple[str, str, str, str]:
    first, city, month = rng.choice(_FIRST), rng.choice(_CITIES), rng.choice(_MONTHS)
    template = rng.choice(["{f} {l} moved to {c} in {m}.", "In {m}, {f} {l} flew to {c}.",
                           "{f} {l} visited {c} last {m}.", "We met {f} {l} in {c} in {m}."])
    return template.format(f=first, l=rng.choice(_LAST), c=city, m=month), first, city, month


def _pick(i: int) -> Callable[[random.Random], tuple[str, str]]:
    def make(rng: random.Random) -> tuple[str, str]:
        sentence, *parts = _person_sentence(rng)
        return sentence, parts[i]
    return make


def _number_list(rng: random.Random) -> list[int]:
    return rng.sample(range(1, 100), rng.randint(3, 6))


def _list_rule(rule: Callable[[list[int]], int]) -> Callable[[random.Random], tuple[str, str]]:
    def make(rng: random.Random) -> tuple[str, str]:
        values = _number_list(rng)
        return ", ".join(map(str, values)), str(rule(values))
    return make


def _word_rule(rule: Callable[[str], str]) -> Callable[[random.Random], tuple[str, str]]:
    def make(rng: random.Random) -> tuple[str, str]:
        word = rng.choice(_WORDS)
        return word, rule(word)
    return make


def _first_parity(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 99), rng.randint(1, 99)
    return f"{a} and {b}", "even" if a % 2 == 0 else "odd"


def _greater(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(range(1, 100), 2)
    return f"{a} and {b}", str(max(a, b))


MANY_TASK_SPECS: tuple[ManyTaskSpec, ...] = (
    ManyTaskSpec("sentence_extraction", "extraction", "a sentence about a trip", (
        Intent("city", ("extract the city", "find the city in the sentence", "name the city that is mentioned",
                        "write the name of the place the person went to"), "the city name", _pick(1)),
        Intent("first_name", ("extract the first name", "find the person's first name",
                              "name the person in the sentence", "write who travelled, first name only"),
               "the first name", _pick(0)),
        Intent("month", ("extract the month", "find the month in the sentence", "name the month of the trip",
                         "write when the trip happened, month only"), "the month", _pick(2)),
    ), (0.6, 0.25, 0.15)),
    ManyTaskSpec("number_list", "list operation", "a comma separated list of numbers", (
        Intent("max", ("find the largest number", "return the maximum of the list", "pick the biggest number",
                       "write the highest value in the list"), "one number", _list_rule(max)),
        Intent("min", ("find the smallest number", "return the minimum of the list", "pick the lowest number",
                       "write the smallest value in the list"), "one number", _list_rule(min)),
        Intent("first", ("return the first number", "copy the first item of the list",
                         "write the number the list starts with", "give the leading number"),
               "one number", _list_rule(lambda v: v[0])),
        Intent("count", ("count the numbers", "say how many numbers the list has",
                         "return the length of the list", "write how many items there are"),
               "one number", _list_rule(len)),
    ), (0.45, 0.25, 0.2, 0.1)),
    ManyTaskSpec("word_rewrite", "string transformation", "one lowercase word", (
        Intent("upper", ("write the word in capital letters", "uppercase the word", "convert the word to upper case",
                         "rewrite the word using only capitals"), "the word", _word_rule(str.upper)),
        Intent("reverse", ("reverse the word", "spell the word backwards", "write the letters in reverse order",
                           "mirror the word"), "the word", _word_rule(lambda w: w[::-1])),
        Intent("first_letter", ("give the first letter of the word", "write the initial letter",
                                "return the word's first character", "extract the first letter"),
               "one letter", _word_rule(lambda w: w[0])),
    ), (0.5, 0.3, 0.2)),
    ManyTaskSpec("number_pair", "arithmetic comparison", "two whole numbers", (
        Intent("greater", ("write the larger number", "pick the bigger of the two numbers",
                           "return the maximum of the two", "say which number is greater"), "one number", _greater),
        Intent("parity", ("say if the first number is even or odd", "classify the first number as even or odd",
                          "tell whether the first number is even or odd", "label the first number: even or odd"),
               "even or odd", _first_parity),
    ), (0.7, 0.3)),
)
MANY_TASK_NAMES: tuple[str, ...] = tuple(spec.name for spec in MANY_TASK_SPECS)
_MANY_BY_NAME = {spec.name: spec for spec in MANY_TASK_SPECS}


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def intent_phrasings(spec: ManyTaskSpec, intent: Intent) -> list[str]:
    """Every phrasing of one intent: openers x contexts x cores x endings (distinct strings)."""
    out = []
    for opener in _OPENERS:
        for context in _CONTEXTS:
            for core in intent.cores:
                for ending in _ENDINGS:
                    if not opener.endswith(".") and ending:  # the terse form takes no format sentence
                        continue
                    body = opener.format(core=core, Core=_sentence_case(core))
                    text = context.format(input=spec.input_desc) + (body if not context else body[0].upper() + body[1:])
                    out.append(_sentence_case(text + ending.format(answer=intent.answer)))
    return list(dict.fromkeys(out))


def generate_many_task(spec: ManyTaskSpec, n_examples: int, seed: int = 0, zipf: float = 1.1) -> Task:
    """``n_examples`` examples of a many-instruction task; depends only on ``seed`` and the task name.

    The intent of an example is drawn by the spec's weights; its phrasing from the intent's
    phrasings in a seeded random rank order, with probability proportional to
    ``rank ** -zipf`` (a few phrasings are common, most are rare).
    """
    if n_examples < 1:
        raise InputError(f"n_examples must be >= 1, got {n_examples}", field="n_examples")
    if zipf < 0:
        raise InputError(f"zipf must be >= 0, got {zipf}", field="zipf")
    rng = random.Random(f"inscl-many:{seed}:{spec.name}")
    ranked = []
    for intent in spec.intents:
        phrasings = intent_phrasings(spec, intent)
        rng.shuffle(phrasings)
        ranked.append((phrasings, [(k + 1) ** -zipf for k in range(len(phrasings))]))
    examples = []
    for i in range(n_examples):
        j = rng.choices(range(len(spec.intents)), weights=spec.weights)[0]
        phrasings, weights = ranked[j]
        instruction = rng.choices(phrasings, weights=weights)[0]
        source, answer = spec.intents[j].make(rng)
        examples.append(Example(instruction, source, answer, f"{spec.name}-{i:04d}", spec.name))
    return Task(spec.name, examples, {"kind": spec.kind, "generator": "inscl.demo.many", "seed": seed,
                                      "intents": [it.name for it in spec.intents]})


def write_many_stream(directory: str | Path, n_examples: int = 160, seed: int = 0,
                      tasks: Sequence[str] | None = None, zipf: float = 1.1) -> list[Path]:
    """Writes the many-instruction stream like :func:`write_stream` (alpaca JSONL per task + manifest)."""
    names = list(tasks) if tasks is not None else list(MANY_TASK_NAMES)
    unknown = [n for n in names if n not in _MANY_BY_NAME]
    if unknown:
        raise InputError(f"unknown many-instruction task {unknown[0]!r}; choose from {', '.join(MANY_TASK_NAMES)}",
                         field="tasks")
    if len(set(names)) != len(names):
        raise InputError("tasks must be distinct", field="tasks")
    stream = [generate_many_task(_MANY_BY_NAME[n], n_examples, seed, zipf) for n in names]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in stream:
        path = directory / f"{task.name}.jsonl"
        write_jsonl(path, (e.to_alpaca() for e in task.examples))
        paths.append(path)
    write_json(directory / MANIFEST_FILE, {
        "order": names, "generator": "inscl.demo.stream.write_many_stream", "seed": seed, "zipf": zipf,
        "n_examples": n_examples, "kinds": {t.name: t.metadata["kind"] for t in stream},
        "distinct_instructions": {t.name: len(t.instructions()) for t in stream}})
    return paths
