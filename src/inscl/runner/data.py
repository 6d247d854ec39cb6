"""The task stream of an experiment: load, order, split and cap the tasks.

Tasks come from :func:`inscl.data.load_tasks` (alpaca files, task directories, the
SuperNI layout; a folder of upstream SuperNI task files, or one holding ``tasks/``
without ``categories.json``, is grouped by InsCL category too). Orders: ``curriculum``
(the paper's SuperNI curriculum when every task is a SuperNI category, else the sources'
order), ``reverse`` (that order reversed), ``random`` (a permutation seeded by
``order_seed``), ``random:SEED`` or an explicit list of names. The task *set* is chosen
once (``tasks``, then the first ``max_tasks`` of ``order``) and every entry of
``orders`` permutes that same set, so runs over several orders share their data. A task
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


def _ordered(tasks: list[Task], config: DataConfig, order: object = None) -> list[Task]:
    by_name = {t.name: t for t in tasks}
    names = [t.name for t in tasks]
    order = config.order if order is None else order
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
    seed = int(order.split(":", 1)[1]) if isinstance(order, str) and order.startswith("random:") \
        else config.order_seed
    names = sorted(names)  # the permutation depends on the seed and the set, not on the sources' order
    random.Random(seed).shuffle(names)
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


def _is_superni_folder(path: Path) -> bool:
    """A folder of upstream SuperNI task files, or one holding such a ``tasks/`` folder
    (with ``categories.json`` :func:`inscl.data.load_tasks` already groups it)."""
    from inscl.data.formats.superni import looks_like_superni

    folder = path / "tasks" if (path / "tasks").is_dir() else path
    if not path.is_dir() or (path / "categories.json").is_file() or (path / "manifest.json").is_file():
        return False
    files = sorted(folder.glob("*.json"))
    return bool(files) and all(looks_like_superni(f) for f in files[:3])


def _load_sources(sources: Sequence[str]) -> list[Task]:
    from inscl.data import load_tasks
    from inscl.data.loading import load_superni_dir

    tasks: list[Task] = []
    for src in sources:
        p = Path(src)
        tasks.extend(load_superni_dir(p) if _is_superni_folder(p) else load_tasks([p]))
    names = [t.name for t in tasks]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise InputError(f"task name {dup!r} is used twice", field="data.source")
    return tasks


def load_streams(config: DataConfig) -> dict[str, list[TaskSplit]]:
    """``{order label: stages}`` for every order of ``config`` (see :meth:`DataConfig.order_list`);
    every order holds the same task splits, permuted."""
    sources, stream = _load(config)
    chosen = {s.name for s in stream}
    by_name = {s.name: s for s in stream}
    tasks = [t for t in sources if t.name in chosen]  # the sources' order: "curriculum" of a non-SuperNI set
    out: dict[str, list[TaskSplit]] = {}
    for i, (label, spec) in enumerate(config.order_list()):
        key = f"data.orders[{i}]" if config.orders is not None else "data.order"
        try:
            ordered = [by_name[t.name] for t in _ordered(tasks, config, spec)]
        except InputError as exc:
            raise InputError(exc.reason, field=key) from None
        if len(ordered) != len(stream):
            missing = sorted(chosen - {s.name for s in ordered})
            raise InputError(f"order {label!r} leaves out task(s) {', '.join(missing)} of the task set; every "
                             "order must permute the same tasks", field=key)
        same = next((other for other, o in out.items() if [x.name for x in o] == [x.name for x in ordered]), None)
        if same is not None:  # the same sequence twice would be the same runs counted as two pairs
            raise InputError(f"order {label!r} gives the same task sequence as {same!r}", field=key)
        out[label] = ordered
    return out


def load_stream(config: DataConfig) -> list[TaskSplit]:
    """The ordered, split and capped stages of ``config.order``."""
    return _load(config)[1]


def _load(config: DataConfig) -> tuple[list[Task], list[TaskSplit]]:
    sources = _load_sources(config.source)
    tasks = sources
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
    return sources, stream


def stage_dir_name(index: int, task: str) -> str:
    """``stage_<tt>_<task>`` (1-based index)."""
    return f"stage_{index:02d}_{safe_name(task)}"


def task_names(stream: Sequence[TaskSplit]) -> list[str]:
    return [s.name for s in stream]
