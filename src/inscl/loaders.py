"""Reading user data into :class:`~inscl.task.Task` objects.

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

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inscl.errors import InputError
from inscl.task import Example, Task

log = logging.getLogger(__name__)

ALPACA_SUFFIXES = (".jsonl", ".json")
_SPLIT_FILE = re.compile(r"^(?P<name>.+)\.(?P<split>train|test)$")
_LANGUAGE_FIELDS = ("Input_language", "Output_language", "Instruction_language")


# --------------------------------------------------------------------------- alpaca


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=path) from None


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _iter_jsonl_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON line ({exc.msg}, column {exc.colno})", path=path,
                             line=lineno) from None


def _iter_json_list_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Decodes a JSON list element by element so that each record knows its start line."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def fail(msg: str, pos: int) -> InputError:
        return InputError(msg, path=path, line=_line_of(text, pos))

    pos = ws.match(text, 0).end()  # type: ignore[union-attr]
    if pos >= len(text) or text[pos] != "[":
        raise fail("expected a JSON list of objects (or JSONL, one object per line)", pos)
    pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                record, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", path=path,
                                 line=exc.lineno) from None
            yield _line_of(text, pos), record
            pos = ws.match(text, end).end()  # type: ignore[union-attr]
            if pos < len(text) and text[pos] == ",":
                pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise fail("malformed JSON (expected ',' or ']' after a list element)", pos)
    if ws.match(text, pos).end() != len(text):  # type: ignore[union-attr]
        raise fail("malformed JSON (extra data after the list)", pos)


def _iter_alpaca_records(path: Path) -> Iterator[tuple[int, Any]]:
    text = _read_text(path)
    first = text.lstrip()[:1]
    # The first character decides, not the suffix: JSONL saved as .json is common.
    if first == "[":
        yield from _iter_json_list_records(path, text)
        return
    if first == "{" and path.suffix == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # JSONL saved as .json
        if isinstance(whole, dict) and "instruction" not in whole:
            hint = " (a SuperNI task file: pass it to --tasks / load_tasks)" if "Instances" in whole else ""
            raise InputError(f"expected a JSON list of alpaca objects or JSONL, got one object{hint}",
                             path=path, line=1)
    yield from _iter_jsonl_records(path, text)


def _string_field(record: dict[str, Any], name: str, path: Path, line: int, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise InputError("missing", path=path, line=line, field=name)
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=name)
    return value


def _output_field(record: dict[str, Any], path: Path, line: int) -> str:
    value = record.get("output")
    if value is None:
        raise InputError("missing", path=path, line=line, field="output")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if not value:
            raise InputError("empty list (give at least one reference output)", path=path, line=line,
                             field="output")
        if not all(isinstance(v, str) for v in value):
            raise InputError("expected a list of strings", path=path, line=line, field="output")
        return value[0]
    raise InputError(f"expected a string or a list of strings, got {type(value).__name__}", path=path,
                     line=line, field="output")


def _id_field(record: dict[str, Any], path: Path, line: int) -> str | None:
    value = record.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"expected a string or an integer, got {type(value).__name__}", path=path, line=line,
                         field="id")
    if isinstance(value, str) and not value.strip():
        raise InputError("empty", path=path, line=line, field="id")
    return str(value)


def load_alpaca_file(path: str | Path, task_name: str | None = None) -> Task:
    """Reads one task from an alpaca JSONL or JSON file.

    Args:
        path: the file; JSONL (one object per line) or JSON (a list of objects). The
            format is decided by the first non-blank character (``[`` means JSON).
        task_name: the task's name; by default the records' common ``task`` field,
            else the file stem.

    Returns:
        A :class:`Task` whose examples keep the file order. Examples with a missing or
        empty ``input`` are kept (``input == ""``); a list ``output`` gives its first
        element; ids default to ``f"{task}-{index}"`` (index from 0).

    Raises:
        InputError: naming the file, the line where the bad record starts and the field.
    """
    path = Path(path)
    rows: list[tuple[int, str, str, str, str | None]] = []
    task_fields: dict[str, int] = {}
    for line, record in _iter_alpaca_records(path):
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line)
        instruction = _string_field(record, "instruction", path, line, required=True)
        assert instruction is not None
        if not instruction.strip():
            raise InputError("empty (every example needs an instruction)", path=path, line=line,
                             field="instruction")
        inp = _string_field(record, "input", path, line, required=False) or ""
        output = _output_field(record, path, line)
        ex_id = _id_field(record, path, line)
        task_field = _string_field(record, "task", path, line, required=False)
        if task_field:
            task_fields.setdefault(task_field, line)
        rows.append((line, instruction, inp, output, ex_id))
    if not rows:
        raise InputError("no examples (an empty task cannot be trained or replayed)", path=path)
    if len(task_fields) > 1:
        (first, _), (second, second_line) = list(task_fields.items())[:2]
        raise InputError(f"records name different tasks ({first!r}, {second!r}); put one task per file",
                         path=path, line=second_line, field="task")
    name = task_name or next(iter(task_fields), None) or path.stem
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, (line, instruction, inp, output, ex_id) in enumerate(rows):
        ex_id = ex_id if ex_id is not None else f"{name}-{index}"
        if ex_id in seen:
            raise InputError(f"duplicate id {ex_id!r} (first on line {seen[ex_id]})", path=path, line=line,
                             field="id")
        seen[ex_id] = line
        examples.append(Example(instruction=instruction, input=inp, output=output, id=ex_id, task=name))
    return Task(name, examples, {"source_files": [str(path)]})


# --------------------------------------------------------------------------- SuperNI


@dataclass
class SuperNITaskFile:
    """One upstream natural-instructions task file, validated.

    ``examples`` carry ``task = name`` (the file stem); callers that group files into
    categories re-label them.
    """

    path: Path
    name: str
    instruction: str
    categories: list[str]
    domains: list[str]
    inscl_category: str | None
    english: bool
    examples: list[Example] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return self.path.name


def _str_list(data: dict[str, Any], key: str, path: Path, *, required: bool) -> list[str]:
    value = data.get(key)
    if value is None:
        if required:
            raise InputError("missing", path=path, field=key)
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("expected a list of strings", path=path, field=key)
    return value


def is_english_task(data: dict[str, Any]) -> bool:
    """True when Input, Output and Instruction language all list English."""
    for key in _LANGUAGE_FIELDS:
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not any(isinstance(v, str) and "English" in v for v in value):
            return False
    return True


def read_superni_task_file(path: str | Path, max_instances: int | None = None) -> SuperNITaskFile:
    """Reads and validates an upstream task file (``Definition``, ``Instances``, languages).

    The instruction is the ``Definition`` (its strings joined by a blank line; upstream
    files hold exactly one); each instance gives ``input`` and its first ``output``.
    ``max_instances`` keeps the first N instances (upstream order).
    """
    path = Path(path)
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("expected a SuperNI task object with 'Definition' and 'Instances'", path=path)
    definition = [d.strip() for d in _str_list(data, "Definition", path, required=True) if d.strip()]
    if not definition:
        raise InputError("empty (the Definition is the task's instruction)", path=path, field="Definition")
    instruction = "\n\n".join(definition)
    instances = data.get("Instances")
    if not isinstance(instances, list):
        raise InputError("missing or not a list", path=path, field="Instances")
    if max_instances is not None:
        instances = instances[:max_instances]
    inscl_category = data.get("InsCL_Category")
    if inscl_category is not None and not isinstance(inscl_category, str):
        raise InputError("expected a string", path=path, field="InsCL_Category")
    name = path.stem
    examples: list[Example] = []
    seen: set[str] = set()
    for i, inst in enumerate(instances):
        where = f"Instances[{i}]"
        if not isinstance(inst, dict):
            raise InputError("expected an object", path=path, field=where)
        inp = inst.get("input", "")
        if not isinstance(inp, str):
            raise InputError("expected a string", path=path, field=f"{where}.input")
        out = inst.get("output")
        if isinstance(out, str):
            out = [out]
        if not isinstance(out, list) or not out or not isinstance(out[0], str):
            raise InputError("expected a non-empty list of strings", path=path, field=f"{where}.output")
        ex_id = inst.get("id")
        if ex_id is None:
            ex_id = f"{name}-{i}"
        if not isinstance(ex_id, (str, int)) or isinstance(ex_id, bool):
            raise InputError("expected a string", path=path, field=f"{where}.id")
        ex_id = str(ex_id)
        if ex_id in seen:
            raise InputError(f"duplicate id {ex_id!r}", path=path, field=f"{where}.id")
        seen.add(ex_id)
        examples.append(Example(instruction=instruction, input=inp, output=out[0], id=ex_id, task=name))
    return SuperNITaskFile(
        path=path, name=name, instruction=instruction,
        categories=_str_list(data, "Categories", path, required=False),
        domains=_str_list(data, "Domains", path, required=False),
        inscl_category=inscl_category or None, english=is_english_task(data), examples=examples,
    )


def load_superni_task_file(path: str | Path) -> list[Example]:
    """The examples of one upstream task file (instruction = Definition, output = first output)."""
    return read_superni_task_file(path).examples


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
            :data:`inscl.superni.SUPERNI_TO_INSCL` decides.
        order: category names to keep, in this order, or a preset of
            :data:`inscl.superni.ORDERS` (``"curriculum"``, ``"reverse"``, ``"random"``,
            ``"random:SEED"``); default the categories file's order.
        max_per_task: keep the first N instances of every task file.

    Non-English task files are skipped with a warning. Examples keep file order; ids
    are the upstream instance ids; ``metadata["source_files"]`` lists the task files.
    """
    from inscl.superni import collect_superni, resolve_order  # superni builds on this module

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
    examples = [Example(e.instruction, e.input, e.output, e.id, name) for e in [*train.examples, *test.examples]]
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
        raise InputError("not a directory", path=path)
    if is_superni_layout(path):
        return load_superni_dir(path)
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix in ALPACA_SUFFIXES and p.name != "manifest.json"
                   and not p.name.startswith("."))
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
        from inscl.jsonio import read_json

        doc = read_json(manifest)
        order = doc.get("order") if isinstance(doc, dict) else None
        if isinstance(order, list):
            rank = {n: i for i, n in enumerate(order)}
            tasks.sort(key=lambda t: rank.get(t.name, len(rank)))
    return tasks


# --------------------------------------------------------------------------- entry point


def _apply_order(tasks: list[Task], order: Sequence[str] | str) -> list[Task]:
    from inscl.superni import ORDERS

    names = [t.name for t in tasks]
    by_name = {t.name: t for t in tasks}
    requested = list(order) if not isinstance(order, str) else (
        [order] if order in by_name else [n.strip() for n in order.split(",") if n.strip()])
    if len(requested) == 1 and requested[0] not in by_name and (
            requested[0] in ORDERS or requested[0].startswith("random:")):
        from inscl.superni import resolve_order

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
            :func:`inscl.superni.resolve_order`. Default: the sources' order.

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
            raise InputError("no such file or directory", path=p, field="--tasks")
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
    if path.suffix == ".json" and _looks_like_superni(path):
        tf = read_superni_task_file(path)
        if not tf.english:
            log.warning("%s: not an English task (Input/Output/Instruction_language)", path)
        return Task(tf.name, tf.examples, {"source_files": [str(path)], "format": "superni"})
    return load_alpaca_file(path)


def _looks_like_superni(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith("{") and ('"Definition"' in head or '"Contributors"' in head)
