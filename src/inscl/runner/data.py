"""The task stream of an experiment: load, order, split and cap the tasks.

Tasks come from :func:`inscl.data.load_tasks` (alpaca files, task directories, the
SuperNI layout). Orders: ``curriculum`` (the paper's SuperNI curriculum when every task
is a SuperNI category, else the sources' order), ``reverse`` (that order reversed),
``random`` (a permutation seeded by ``order_seed``) or an explicit list of names. A task
that carries its own split (``<name>.train.jsonl`` + ``<name>.test.jsonl``) keeps it;
the others are split by :func:`inscl.data.task.split_task`. Caps keep a seeded random subset
(in the original order), so a cap never takes only the first source file of a category.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inscl.data.task import Task, split_task
from inscl.errors import InputError
from inscl.runner.config import DataConfig


@dataclass
class TaskSplit:
    """One stage's task: its name, train split and test split."""

    name: str
    train: Task
    test: Task


def safe_name(name: str) -> str:
    """A file-system friendly version of a task name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "task"


def _ordered(tasks: list[Task], config: DataConfig) -> list[Task]:
    by_name = {t.name: t for t in tasks}
    names = [t.name for t in tasks]
    order = config.order
    if isinstance(order, list):
        unknown = [n for n in order if n not in by_name]
        if unknown:
            raise InputError(f"unknown task {unknown[0]!r}; known: {', '.join(names)}", field="data.order")
        return [by_name[n] for n in order]
    if order in ("curriculum", "reverse"):
        try:
            from inscl.data.superni import ORDERS as PRESETS
            preset = list(PRESETS.get("curriculum", []))
        except ImportError:  # pragma: no cover - superni module is part of the package
            preset = []
        if preset and set(names) <= set(preset):
            names = [n for n in preset if n in by_name]
        if order == "reverse":
            names = names[::-1]
        return [by_name[n] for n in names]
    rng = random.Random(config.order_seed)
    names = list(names)
    rng.shuffle(names)
    return [by_name[n] for n in names]


def _cap(task: Task, limit: int | None, seed: int, tag: str) -> Task:
    if limit is None or len(task) <= limit:
        return task
    keep = sorted(random.Random(f"{seed}:{tag}:{task.name}").sample(range(len(task)), limit))
    return task.subset([task.examples[i] for i in keep])


def _split(task: Task, config: DataConfig) -> tuple[Task, Task]:
    split = task.metadata.get("split")
    if isinstance(split, dict) and split.get("train") and split.get("test"):
        train_ids, test_ids = set(split["train"]), set(split["test"])
        return (task.subset([e for e in task.examples if e.id in train_ids]),
                task.subset([e for e in task.examples if e.id in test_ids]))
    if len(task) < 2:
        raise InputError(f"task {task.name!r} has {len(task)} example(s); at least 2 are needed for a "
                         "train/test split", field="data.source")
    return split_task(task, config.test_fraction, config.split_seed)


def load_stream(config: DataConfig) -> list[TaskSplit]:
    """The ordered, split and capped stages of an experiment."""
    from inscl.data import load_tasks

    tasks = load_tasks([Path(s) for s in config.source])
    if config.tasks is not None:
        known = {t.name for t in tasks}
        missing = [n for n in config.tasks if n not in known]
        if missing:
            raise InputError(f"unknown task {missing[0]!r}; known: {', '.join(sorted(known))}", field="data.tasks")
        keep = set(config.tasks)
        tasks = [t for t in tasks if t.name in keep]
    tasks = _ordered(tasks, config)
    if config.max_tasks is not None:
        tasks = tasks[: config.max_tasks]
    if not tasks:
        raise InputError("the stream has no tasks", field="data.source")
    stream = []
    for t in tasks:
        ids = [e.id for e in t.examples]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"task {t.name!r}: example id {dup!r} is used twice", field="id")
        train, test = _split(t, config)
        stream.append(TaskSplit(t.name, _cap(train, config.max_train_per_task, config.split_seed, "train"),
                                _cap(test, config.max_test_per_task, config.split_seed, "test")))
    names = [safe_name(s.name) for s in stream]
    if len(set(names)) != len(names):
        raise InputError("two task names map to the same file name", field="data.source")
    return stream


def stage_dir_name(index: int, task: str) -> str:
    """``stage_<tt>_<task>`` (1-based index)."""
    return f"stage_{index:02d}_{safe_name(task)}"


def task_names(stream: Sequence[TaskSplit]) -> list[str]:
    return [s.name for s in stream]
