"""What every record format shares: read options, field checks, and building a task from parsed records.

A record format (``alpaca``, ``sharegpt``, ``messages``, ``prompt_completion``) is one module
with ``NAME``, ``FIELDS`` (its top-level fields, the targets of a column mapping),
``detect(record)``, ``load(path, records, task_name, options)``, ``turns(record)`` and
``from_turns(turns, example)``; :mod:`inscl.data.formats` registers it with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inscl.data.task import Example, Task
from inscl.errors import InputError

#: How the InsCL instruction of a conversation is made (see docs/data-formats.md).
INSTRUCTION_RULES = ("system+user", "user", "system")


@dataclass(frozen=True)
class ReadOptions:
    """How records are read.

    Parameters
    ----------
    format:
        A registered format name, or ``None`` to detect it from the first record.
    columns:
        Format field -> column of the records (``{"instruction": "question"}``).
    instruction:
        For conversations, what InsCL calls the instruction: ``"system+user"`` (default:
        the system prompt, if any, then the first user turn), ``"user"`` (the first user
        turn) or ``"system"`` (the system prompt; the first user turn becomes the input;
        the first user turn alone when there is no system prompt).
    skip_invalid:
        Drop conversations that cannot be used (empty, not opened by the user, no reply)
        with a warning and a count instead of stopping at the first one.
    """

    format: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    instruction: str = "system+user"
    skip_invalid: bool = False

    def __post_init__(self) -> None:
        if self.instruction not in INSTRUCTION_RULES:
            raise InputError(f"unknown rule {self.instruction!r}; valid rules: {', '.join(INSTRUCTION_RULES)}",
                             field="--instruction-from")


@dataclass(frozen=True)
class Parsed:
    """The Example fields one record gives (id and task are read by :func:`build_task`)."""

    instruction: str
    input: str
    output: str


class InvalidConversation(InputError):
    """A well-formed record whose conversation cannot be used; ``skip_invalid`` drops these."""


def string_field(record: Mapping[str, Any], name: str, path: Path, line: int, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise InputError("missing", path=path, line=line, field=name)
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=name)
    return value


def id_field(record: Mapping[str, Any], path: Path, line: int) -> str | None:
    value = record.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"expected a string or an integer, got {type(value).__name__}", path=path, line=line,
                         field="id")
    if isinstance(value, str) and not value.strip():
        raise InputError("empty", path=path, line=line, field="id")
    return str(value)


def build_task(path: Path, records: Iterable[tuple[int, Any]], parse: Callable[..., Parsed], *,
               format_name: str, task_name: str | None, options: ReadOptions,
               skipped: list[InputError] | None = None) -> Task:
    """One task from ``(line, record)`` pairs: validates every record, keeps it as ``Example.source``.

    The rules are the alpaca reader's: one task per file (records naming two tasks are an
    error), ids default to ``f"{task}-{index}"`` and must be unique, an empty file is an
    error. ``skipped`` collects the :class:`InvalidConversation` errors dropped when
    ``options.skip_invalid``.
    """
    rows: list[tuple[int, Parsed, str | None, Mapping[str, Any]]] = []
    task_fields: dict[str, int] = {}
    for line, record in records:
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line)
        view = with_columns(record, options.columns)
        try:
            parsed = parse(view, path, line, options)
        except InvalidConversation as exc:
            if not options.skip_invalid:
                raise
            if skipped is not None:
                skipped.append(exc)
            continue
        ex_id = id_field(view, path, line)
        task_field = string_field(view, "task", path, line, required=False)
        if task_field:
            task_fields.setdefault(task_field, line)
        rows.append((line, parsed, ex_id, record))
    if not rows:
        why = " (every record was skipped as invalid)" if skipped else ""
        raise InputError(f"no examples (an empty task cannot be trained or replayed){why}", path=path)
    if len(task_fields) > 1:
        (first, _), (second, second_line) = list(task_fields.items())[:2]
        raise InputError(f"records name different tasks ({first!r}, {second!r}); put one task per file",
                         path=path, line=second_line, field="task")
    name = task_name or next(iter(task_fields), None) or path.stem
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, (line, parsed, ex_id, record) in enumerate(rows):
        ex_id = ex_id if ex_id is not None else f"{name}-{index}"
        if ex_id in seen:
            raise InputError(f"duplicate id {ex_id!r} (first on line {seen[ex_id]})", path=path, line=line,
                             field="id")
        seen[ex_id] = line
        examples.append(Example(instruction=parsed.instruction, input=parsed.input, output=parsed.output,
                                id=ex_id, task=name, source=record))
    return Task(name, examples, {"source_files": [str(path)], "format": format_name})


def with_columns(record: Mapping[str, Any], columns: Mapping[str, str]) -> Mapping[str, Any]:
    """The record with each mapped column under its format field name (``record`` is not changed)."""
    if not columns:
        return record
    mapped = dict(record)
    for name, column in columns.items():
        if column in record:
            mapped[name] = record[column]
            if column != name and column not in columns:
                del mapped[column]
    return mapped


def relabel(example: Example, task: str) -> Example:
    """``example`` moved to task ``task`` (source and references kept)."""
    return replace(example, task=task)
