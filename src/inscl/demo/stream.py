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
