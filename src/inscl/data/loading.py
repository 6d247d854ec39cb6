"""Reading user data into :class:`~inscl.data.task.Task` objects: the one entry point, ``load_tasks``.

Accepted inputs (see ``docs/data-formats.md``):

* an alpaca file, JSONL (one object per line) or JSON (a list of objects), with
  ``instruction``, ``input`` (optional, may be empty), ``output`` (a string or a
  non-empty list of strings) and optional ``id`` / ``task``: one task per file;
* a directory with one such file per task (``<name>.train.jsonl`` +
  ``<name>.test.jsonl`` pairs are joined into one task that remembers its split);
* a SuperNI layout: ``categories.json`` beside a ``tasks/`` folder of upstream
  natural-instructions task files, one task per category.

Every problem is an :class:`~inscl.errors.InputError` naming the file, the line and the
field, so that a user can fix it without reading a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from inscl.data.formats.alpaca import load_alpaca_file
from inscl.data.formats.superni import looks_like_superni, read_superni_task_file
from inscl.data.jsonio import read_json
from inscl.data.superni import ORDERS, collect_superni, resolve_order
from inscl.data.task import Example, Task
from inscl.errors import InputError
from inscl.pathchecks import broken_link_reason

log = logging.getLogger(__name__)

ALPACA_SUFFIXES = (".jsonl", ".json")
_SPLIT_FILE = re.compile(r"^(?P<name>.+)\.(?P<split>train|test)$")


def is_superni_layout(path: str | Path) -> bool:
    """A folder with ``categories.json`` beside a ``tasks/`` folder."""
    path = Path(path)
    return (path / "categories.json").is_file() and (path / "tasks").is_dir()


def load_superni_dir(
    path: str | Path,
    categories_file: str | Path | None = None,
    order: Sequence[str] | str | None = None,
    max_per_task: int | None = None,
) -> list[Task]:
    """One :class:`Task` per InsCL category from a SuperNI folder.

    Args:
        path: a folder holding ``tasks/`` (or the tasks folder itself).
        categories_file: category -> task files; default ``path/categories.json``.
            Without one, each file's ``InsCL_Category`` or its ``Categories`` through
            :data:`inscl.data.superni.SUPERNI_TO_INSCL` decides.
        order: category names to keep, in this order, or a preset of
            :data:`inscl.data.superni.ORDERS` (``"curriculum"``, ``"reverse"``, ``"random"``,
            ``"random:SEED"``); default the categories file's order.
        max_per_task: keep the first N instances of every task file.

    Non-English task files are skipped with a warning. Examples keep file order; ids
    are the upstream instance ids; ``metadata["source_files"]`` lists the task files.
    """
    groups = collect_superni(path, categories_file=categories_file, max_per_task=max_per_task).groups
    tasks = [group.to_task() for group in groups]
    if order is not None:
        names = resolve_order(order, [t.name for t in tasks])
        by_name = {t.name: t for t in tasks}
        tasks = [by_name[n] for n in names]
    return tasks


# --------------------------------------------------------------------------- directories


def _join_split(name: str, train: Task, test: Task, path: Path) -> Task:
    """One task from a ``<name>.train`` / ``<name>.test`` pair; the split is kept in metadata."""
    examples = [Example(e.instruction, e.input, e.output, e.id, name, e.references)
                for e in [*train.examples, *test.examples]]
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"id {dup!r} is in both the train and the test file", path=path, field="id")
    return Task(name, examples, {
        "source_files": train.metadata["source_files"] + test.metadata["source_files"],
        "split": {"train": [e.id for e in train.examples], "test": [e.id for e in test.examples]},
    })


def load_task_dir(path: str | Path) -> list[Task]:
    """All tasks of a directory, one per ``*.jsonl`` / ``*.json`` file, sorted by file name.

    A SuperNI layout (``categories.json`` beside ``tasks/``) goes to
    :func:`load_superni_dir`. A ``<name>.train.jsonl`` + ``<name>.test.jsonl`` pair
    (what ``inscl data superni`` and the runner write) is one task named ``name`` whose
    ``metadata["split"]`` holds the train and test ids; a ``manifest.json`` with an
    ``order`` list (the stream builder's) gives the task order.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(broken_link_reason(path) or "not a directory", path=path)
    if is_superni_layout(path):
        return load_superni_dir(path)
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror or exc})", path=path) from None
    files = []
    for p in entries:
        if p.suffix not in ALPACA_SUFFIXES or p.name == "manifest.json" or p.name.startswith("."):
            continue
        # Links are followed; one that cannot be followed would silently drop a task.
        reason = broken_link_reason(p)
        if reason:
            raise InputError(reason, path=p, field="--tasks")
        if p.is_file():
            files.append(p)
    if not files:
        raise InputError("no task files (*.jsonl, *.json) in the directory", path=path)
    splits: dict[str, dict[str, Path]] = {}
    singles: list[Path] = []
    for f in files:
        m = _SPLIT_FILE.match(f.stem)
        if m:
            splits.setdefault(m["name"], {})[m["split"]] = f
        else:
            singles.append(f)
    tasks: list[Task] = []
    for f in singles:
        tasks.append(_load_task_file(f))
    for name, pair in splits.items():
        if set(pair) == {"train", "test"}:
            tasks.append(_join_split(name, load_alpaca_file(pair["train"], name),
                                     load_alpaca_file(pair["test"], name), path))
        else:  # a lone train or test file is just a task file
            ((_split, f),) = pair.items()
            tasks.append(load_alpaca_file(f, name))
    manifest = path / "manifest.json"
    tasks.sort(key=lambda t: str(t.metadata["source_files"][0]))
    if manifest.is_file():
        doc = read_json(manifest)
        order = doc.get("order") if isinstance(doc, dict) else None
        if isinstance(order, list):
            rank = {n: i for i, n in enumerate(order)}
            tasks.sort(key=lambda t: rank.get(t.name, len(rank)))
    return tasks


# --------------------------------------------------------------------------- entry point


def _apply_order(tasks: list[Task], order: Sequence[str] | str) -> list[Task]:
    names = [t.name for t in tasks]
    by_name = {t.name: t for t in tasks}
    requested = list(order) if not isinstance(order, str) else (
        [order] if order in by_name else [n.strip() for n in order.split(",") if n.strip()])
    if not requested:
        raise InputError("no task names given (expected NAME,NAME,... or a preset)", field="--order")
    if len(requested) == 1 and requested[0] not in by_name and (
            requested[0] in ORDERS or requested[0].startswith("random:")):
        return [by_name[n] for n in resolve_order(requested[0], names)]
    unknown = [n for n in requested if n not in by_name]
    if unknown:
        raise InputError(f"unknown task {unknown[0]!r}; known tasks: {', '.join(names)}", field="--order")
    dups = sorted({n for n in requested if requested.count(n) > 1})
    if dups:
        raise InputError(f"task {dups[0]!r} is listed twice", field="--order")
    return [by_name[n] for n in requested]


def load_tasks(sources: Sequence[str | Path] | str | Path, order: Sequence[str] | str | None = None) -> list[Task]:
    """The single entry point for ``--tasks DIR|FILES --order ...``.

    Args:
        sources: one or more directories (task dir or SuperNI layout) and/or files
            (one task per file; an upstream SuperNI task file is read as one task).
        order: task names to keep, in this order; a single preset name
            (``curriculum``, ``reverse``, ``random``, ``random:SEED``) is resolved by
            :func:`inscl.data.superni.resolve_order`. Default: the sources' order.

    Raises:
        InputError: unreadable data, duplicate task names, or an unknown name in
            ``order`` (field ``--order``, listing the known names).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise InputError("no task sources given", field="--tasks")
    tasks: list[Task] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            tasks.extend(load_task_dir(p))
        elif p.is_file():
            tasks.append(_load_task_file(p))
        else:
            raise InputError(broken_link_reason(p) or "no such file or directory", path=p, field="--tasks")
    first: dict[str, Task] = {}
    for t in tasks:
        if t.name in first:
            a, b = first[t.name].metadata.get("source_files", ["?"])[0], t.metadata.get("source_files", ["?"])[0]
            raise InputError(f"task name {t.name!r} is used twice ({a} and {b})", field="--tasks")
        first[t.name] = t
    if order is not None:
        tasks = _apply_order(tasks, order)
    return tasks


def _load_task_file(path: Path) -> Task:
    if path.suffix not in ALPACA_SUFFIXES:
        raise InputError(f"unsupported file type {path.suffix!r} (expected .jsonl or .json)", path=path)
    if path.suffix == ".json" and looks_like_superni(path):
        tf = read_superni_task_file(path)
        if not tf.english:
            log.warning("%s: not an English task (Input/Output/Instruction_language)", path)
        return Task(tf.name, tf.examples, {"source_files": [str(path)], "format": "superni"})
    return load_alpaca_file(path)
