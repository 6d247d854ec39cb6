"""Reading user data into :class:`~inscl.data.task.Task` objects: the one entry point, ``load_tasks``.

Accepted inputs (see ``docs/data-formats.md``):

* an alpaca file, JSONL (one object per line) or JSON (a list of objects), with
  ``instruction``, ``input`` (optional, may be empty), ``output`` (a string or a
  non-empty list of strings) and optional ``id`` / ``task``: one task per file;
* a directory with one such file per task (``<name>.train.jsonl`` +
  ``<name>.test.jsonl`` pairs are joined into one task that remembers its split);
* a SuperNI layout: ``categories.json`` beside a ``tasks/`` folder of upstream
  natural-instructions task files, one task per category;
* a file (or directory of files) in any registered record format
  (:data:`inscl.data.formats.FORMATS`: alpaca, sharegpt, messages, prompt_completion),
  JSON/JSONL, Parquet, Arrow, or a ``datasets`` ``save_to_disk`` folder; the first record
  decides the format unless ``format`` is given, and ``columns`` maps other column names.

Every problem is an :class:`~inscl.errors.InputError` naming the file, the line and the
field, so that a user can fix it without reading a traceback.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.formats import alpaca, check_columns, detect_format, get_format, parse_columns
from inscl.data.formats.base import ReadOptions, relabel, with_columns
from inscl.data.formats.files import (
    JSON_SUFFIXES,
    TABLE_SUFFIXES,
    is_dataset_folder,
    iter_json_records,
    iter_table_records,
    table_splits,
)
from inscl.data.formats.superni import looks_like_superni, read_superni_task_file
from inscl.data.jsonio import read_json
from inscl.data.superni import ORDERS, collect_superni, resolve_order
from inscl.data.task import Task
from inscl.errors import InputError
from inscl.pathchecks import broken_link_reason

log = logging.getLogger(__name__)

ALPACA_SUFFIXES = JSON_SUFFIXES
TASK_SUFFIXES = JSON_SUFFIXES + TABLE_SUFFIXES
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
    examples = [relabel(e, name) for e in [*train.examples, *test.examples]]
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"id {dup!r} is in both the train and the test file", path=path, field="id")
    metadata = {k: v for k, v in train.metadata.items() if k not in ("source_files", "split")}
    return Task(name, examples, {
        **metadata,
        "source_files": train.metadata["source_files"] + test.metadata["source_files"],
        "split": {"train": [e.id for e in train.examples], "test": [e.id for e in test.examples]},
    })


def load_task_dir(path: str | Path, options: ReadOptions | None = None) -> list[Task]:
    """All tasks of a directory, one per task file (``*.jsonl``, ``*.json``, ``*.parquet``,
    ``*.arrow``) or ``datasets`` folder, sorted by file name.

    A SuperNI layout (``categories.json`` beside ``tasks/``) goes to
    :func:`load_superni_dir`. A ``<name>.train.jsonl`` + ``<name>.test.jsonl`` pair
    (what ``inscl data superni`` and the runner write) is one task named ``name`` whose
    ``metadata["split"]`` holds the train and test ids; a ``manifest.json`` with an
    ``order`` list (the stream builder's) gives the task order.
    """
    path = Path(path)
    options = options or ReadOptions()
    if not path.is_dir():
        raise InputError(broken_link_reason(path) or "not a directory", path=path)
    if is_superni_layout(path):
        return load_superni_dir(path)
    if is_dataset_folder(path):
        return [_load_task_file(path, options)]
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror or exc})", path=path) from None
    files = []
    for p in entries:
        if p.name in ("manifest.json", "dataset_info.json") or p.name.startswith("."):
            continue
        if p.suffix not in TASK_SUFFIXES and not is_dataset_folder(p):
            continue
        # Links are followed; one that cannot be followed would silently drop a task.
        reason = broken_link_reason(p)
        if reason:
            raise InputError(reason, path=p, field="--tasks")
        if p.is_file() or is_dataset_folder(p):
            files.append(p)
    if not files:
        raise InputError("no task files (*.jsonl, *.json, *.parquet, *.arrow, datasets folders) in the directory",
                         path=path)
    splits: dict[str, dict[str, Path]] = {}
    singles: list[Path] = []
    for f in files:
        m = _SPLIT_FILE.match(f.stem if f.is_file() else f.name)
        if m:
            splits.setdefault(m["name"], {})[m["split"]] = f
        else:
            singles.append(f)
    tasks: list[Task] = []
    for f in singles:
        tasks.append(_load_task_file(f, options))
    for name, pair in splits.items():
        if set(pair) == {"train", "test"}:
            tasks.append(_join_split(name, _load_task_file(pair["train"], options, name),
                                     _load_task_file(pair["test"], options, name), path))
        else:  # a lone train or test file is just a task file
            ((_split, f),) = pair.items()
            tasks.append(_load_task_file(f, options, name))
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


def load_tasks(sources: Sequence[str | Path] | str | Path, order: Sequence[str] | str | None = None, *,
               format: str | None = None, columns: str | Mapping[str, str] | None = None,
               instruction: str = "system+user", skip_invalid: bool = False) -> list[Task]:
    """The single entry point for ``--tasks DIR|FILES --order ...``.

    Args:
        sources: one or more directories (task dir or SuperNI layout) and/or files
            (one task per file; an upstream SuperNI task file is read as one task).
        order: task names to keep, in this order; a single preset name
            (``curriculum``, ``reverse``, ``random``, ``random:SEED``) is resolved by
            :func:`inscl.data.superni.resolve_order`. Default: the sources' order.
        format: a record format of :data:`inscl.data.formats.FORMATS` for every file;
            default: detected from each file's first record.
        columns: format field -> column name, ``{"instruction": "question"}`` or
            ``"instruction=question,output=answer"``.
        instruction: what a conversation's instruction is: ``system+user`` (default),
            ``user`` or ``system`` (see :mod:`inscl.data.formats.conversation`).
        skip_invalid: drop unusable conversations (with a warning) instead of failing.

    Every example read from a record format keeps its record in ``Example.source``
    (alpaca examples excepted); ``Task.metadata["format"]`` names the format.

    Raises:
        InputError: unreadable data, duplicate task names, or an unknown name in
            ``order`` (field ``--order``, listing the known names).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise InputError("no task sources given", field="--tasks")
    if format is not None:
        get_format(format)  # an unknown name fails before any file is read
    options = ReadOptions(format=format, columns=parse_columns(columns), instruction=instruction,
                          skip_invalid=skip_invalid)
    tasks: list[Task] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            tasks.extend(load_task_dir(p, options))
        elif p.is_file():
            tasks.append(_load_task_file(p, options))
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


def _load_task_file(path: Path, options: ReadOptions | None = None, task_name: str | None = None) -> Task:
    options = options or ReadOptions()
    if path.is_file() and path.suffix not in TASK_SUFFIXES:
        raise InputError(f"unsupported file type {path.suffix!r} (expected .jsonl, .json, .parquet or .arrow)",
                         path=path)
    if path.suffix == ".json" and path.is_file() and looks_like_superni(path):  # a whole-file format
        tf = read_superni_task_file(path)
        if not tf.english:
            log.warning("%s: not an English task (Input/Output/Instruction_language)", path)
        return Task(task_name or tf.name, tf.examples, {"source_files": [str(path)], "format": "superni"})
    if path.is_file() and path.suffix in JSON_SUFFIXES:
        return _read_records(path, iter_json_records(path), options, task_name)
    splits = table_splits(path)
    if len(splits) == 1:
        return _read_records(path, iter_table_records(next(iter(splits.values()))), options, task_name)
    # A DatasetDict: its train and test splits are the task's split; other splits are joined in.
    name = task_name or path.name
    parts = {split: _read_records(path / split, iter_table_records(data), options, name)
             for split, data in splits.items()}
    if {"train", "test"} <= set(parts):
        for other in set(parts) - {"train", "test"}:
            parts["train"].examples.extend(parts.pop(other).examples)
        return _join_split(name, parts["train"], parts["test"], path)
    first, *rest = parts.values()
    for part in rest:
        first.examples.extend(part.examples)
    first.metadata["source_files"] = [str(path)]
    return first


def _read_records(path: Path, records: Iterator[tuple[int, Any]], options: ReadOptions,
                  task_name: str | None) -> Task:
    """One task from a file's records in the given or detected format."""
    records = iter(records)
    head = next(records, None)
    if head is None:
        raise InputError("no examples (an empty task cannot be trained or replayed)", path=path)
    columns = options.columns
    module = (get_format(options.format) if options.format
              else detect_format(with_columns(head[1], columns) if isinstance(head[1], dict) else head[1],
                                 path, head[0]))
    check_columns(module, columns)
    stream = itertools.chain([head], records)
    if module is alpaca and columns:  # alpaca examples keep no source: map the columns up front
        stream = ((line, with_columns(r, columns) if isinstance(r, dict) else r) for line, r in stream)
    skipped: list[InputError] = []
    try:
        task = module.load(path, stream, task_name, options, skipped)
    except InputError as exc:
        raise _in_columns(exc, columns) from None
    if skipped:
        log.warning("%s: skipped %d unusable conversation(s) (first: %s)", path, len(skipped), skipped[0])
    task.metadata["format"] = module.NAME
    if columns:
        task.metadata["columns"] = dict(columns)
    return task


def _in_columns(exc: InputError, columns: Mapping[str, str]) -> InputError:
    """``exc`` naming the user's column instead of the format field it was mapped to."""
    if not exc.field or not columns:
        return exc
    head = re.match(r"[^\[.]*", exc.field).group(0)  # type: ignore[union-attr]
    if head not in columns:
        return exc
    return InputError(exc.reason, path=exc.path, line=exc.line, field=columns[head] + exc.field[len(head):])
