"""The data model: an :class:`Example` and a :class:`Task` (a named list of examples).

A task is the unit of continual learning: stage t trains on task t. Many examples of a
task share one instruction; the distinct instructions, weighted by how many examples
carry each, are the task's distribution for the Wasserstein distance.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One instruction-tuning example (alpaca shape) with a stable id.

    ``references`` holds every reference output when the source has several (SuperNI
    instances, alpaca lists); ``output`` is the first and the training target. ``source``
    is the record as it was read (a conversation, say), kept so that writers can return
    the example in its own format; it takes no part in equality or hashing.
    """

    instruction: str
    input: str
    output: str
    id: str
    task: str = ""
    references: tuple[str, ...] = ()
    source: Mapping[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    def all_references(self) -> tuple[str, ...]:
        """Every reference output, ``output`` first."""
        return self.references or (self.output,)

    def to_alpaca(self) -> dict[str, str]:
        """The record written to JSONL: what HF `datasets` and LLaMA-Factory read."""
        return {"instruction": self.instruction, "input": self.input, "output": self.output, "id": self.id,
                "task": self.task}


@dataclass
class Task:
    """A named set of examples; the order of ``examples`` is kept everywhere."""

    name: str
    examples: list[Example] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def instructions(self) -> list[str]:
        """Distinct instructions in first-seen order."""
        return list(dict.fromkeys(e.instruction for e in self.examples))

    def instruction_counts(self) -> dict[str, int]:
        """Number of examples per distinct instruction, in first-seen order."""
        counts = Counter(e.instruction for e in self.examples)
        return {s: counts[s] for s in self.instructions()}

    def by_instruction(self) -> dict[str, list[Example]]:
        """Examples grouped by instruction (first-seen order of groups and members)."""
        groups: dict[str, list[Example]] = {}
        for e in self.examples:
            groups.setdefault(e.instruction, []).append(e)
        return groups

    def subset(self, examples: Iterable[Example], name: str | None = None) -> Task:
        return Task(name or self.name, list(examples), dict(self.metadata))


def split_task(task: Task, test_fraction: float = 0.2, seed: int = 0) -> tuple[Task, Task]:
    """Deterministic train/test split of a task's examples.

    The permutation depends only on ``seed`` and the task name, so adding or
    reordering other tasks never changes this task's split. A task with at least two
    examples keeps at least one on each side.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    idx = list(range(len(task.examples)))
    random.Random(f"{seed}:{task.name}").shuffle(idx)
    n_test = round(len(idx) * test_fraction)
    if test_fraction > 0 and len(idx) >= 2:
        n_test = min(max(n_test, 1), len(idx) - 1)
    test_idx = sorted(idx[:n_test])
    train_idx = sorted(idx[n_test:])
    return (task.subset([task.examples[i] for i in train_idx]),
            task.subset([task.examples[i] for i in test_idx]))
