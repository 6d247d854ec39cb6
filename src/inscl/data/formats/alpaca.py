"""The alpaca format: ``instruction``, ``input``, ``output`` (and optional ``id``, ``task``).

JSONL (one object per line) or JSON (a list of objects); one task per file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.formats.base import id_field, string_field
from inscl.data.formats.conversation import ASSISTANT, USER, Turn, example_turns, split_system
from inscl.data.formats.records import iter_json_list_records, iter_jsonl_records, read_text
from inscl.data.task import Example, Task
from inscl.errors import InputError


def _iter_alpaca_records(path: Path) -> Iterator[tuple[int, Any]]:
    text = read_text(path)
    first = text.lstrip()[:1]
    # The first character decides, not the suffix: JSONL saved as .json is common.
    if first == "[":
        yield from iter_json_list_records(path, text)
        return
    if first == "{" and path.suffix == ".json":
        try:
            whole = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            whole = None  # JSONL saved as .json (or too deep: the line reader reports it)
        if isinstance(whole, dict) and "instruction" not in whole:
            hint = " (a SuperNI task file: pass it to --tasks / load_tasks)" if "Instances" in whole else ""
            raise InputError(f"expected a JSON list of alpaca objects or JSONL, got one object{hint}",
                             path=path, line=1)
    yield from iter_jsonl_records(path, text)


def _output_field(record: dict[str, Any], path: Path, line: int) -> tuple[str, ...]:
    """Every reference output of the record (a string is one reference)."""
    value = record.get("output")
    if value is None:
        raise InputError("missing", path=path, line=line, field="output")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        if not value:
            raise InputError("empty list (give at least one reference output)", path=path, line=line,
                             field="output")
        if not all(isinstance(v, str) for v in value):
            raise InputError("expected a list of strings", path=path, line=line, field="output")
        return tuple(value)
    raise InputError(f"expected a string or a list of strings, got {type(value).__name__}", path=path,
                     line=line, field="output")


def load_alpaca_file(path: str | Path, task_name: str | None = None, *,
                     records: Iterable[tuple[int, Any]] | None = None) -> Task:
    """Reads one task from an alpaca JSONL or JSON file.

    Args:
        path: the file; JSONL (one object per line) or JSON (a list of objects). The
            format is decided by the first non-blank character (``[`` means JSON).
        task_name: the task's name; by default the records' common ``task`` field,
            else the file stem.
        records: ``(line, record)`` pairs already read from ``path`` (a Parquet file, a
            column-mapped file); by default the file is read as JSON/JSONL.

    Returns:
        A :class:`Task` whose examples keep the file order. Examples with a missing or
        empty ``input`` are kept (``input == ""``); a list ``output`` gives its first
        element as ``output`` and all of them as ``references``; ids default to ``f"{task}-{index}"`` (index from 0).

    Raises:
        InputError: naming the file, the line where the bad record starts and the field.
    """
    path = Path(path)
    rows: list[tuple[int, str, str, tuple[str, ...], str | None]] = []
    task_fields: dict[str, int] = {}
    for line, record in (_iter_alpaca_records(path) if records is None else records):
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line)
        instruction = string_field(record, "instruction", path, line, required=True)
        assert instruction is not None
        if not instruction.strip():
            raise InputError("empty (every example needs an instruction)", path=path, line=line,
                             field="instruction")
        inp = string_field(record, "input", path, line, required=False) or ""
        outputs = _output_field(record, path, line)
        ex_id = id_field(record, path, line)
        task_field = string_field(record, "task", path, line, required=False)
        if task_field:
            task_fields.setdefault(task_field, line)
        rows.append((line, instruction, inp, outputs, ex_id))
    if not rows:
        raise InputError("no examples (an empty task cannot be trained or replayed)", path=path)
    if len(task_fields) > 1:
        (first, _), (second, second_line) = list(task_fields.items())[:2]
        raise InputError(f"records name different tasks ({first!r}, {second!r}); put one task per file",
                         path=path, line=second_line, field="task")
    name = task_name or next(iter(task_fields), None) or path.stem
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, (line, instruction, inp, outputs, ex_id) in enumerate(rows):
        ex_id = ex_id if ex_id is not None else f"{name}-{index}"
        if ex_id in seen:
            raise InputError(f"duplicate id {ex_id!r} (first on line {seen[ex_id]})", path=path, line=line,
                             field="id")
        seen[ex_id] = line
        # Several outputs: the first is the training target, all are references for scoring.
        examples.append(Example(instruction=instruction, input=inp, output=outputs[0], id=ex_id, task=name,
                                references=outputs if len(outputs) > 1 else ()))
    return Task(name, examples, {"source_files": [str(path)]})


# --------------------------------------------------------------------------- format registry entry

NAME = "alpaca"
FIELDS = ("instruction", "input", "output", "id", "task")


def detect(record: Mapping[str, Any]) -> bool:
    return "instruction" in record


def load(path: Path, records: Iterable[tuple[int, Any]], task_name: str | None, options: Any,
         skipped: list[InputError] | None = None) -> Task:
    task = load_alpaca_file(path, task_name, records=records)
    task.metadata["format"] = NAME
    return task


def turns(record: Mapping[str, Any]) -> list[Turn]:  # pragma: no cover - alpaca examples keep no source
    raise NotImplementedError


def from_turns(turns: Sequence[Turn], example: Example, conversational: bool = True) -> dict[str, Any]:
    """An alpaca record; a conversation becomes LLaMA-Factory's ``system`` + ``history`` form.

    The last exchange is ``instruction``/``output`` and the earlier ones ``history`` (what
    LLaMA-Factory trains on); consecutive turns of one role are joined, tool turns dropped.
    """
    if example.source is None or list(turns) == example_turns(example):
        return example.to_alpaca()
    system, rest = split_system(turns)
    merged: list[list[str]] = []
    for role, content in rest:
        if role not in (USER, ASSISTANT):
            continue
        if merged and merged[-1][0] == role:
            merged[-1][1] += "\n\n" + content
        else:
            merged.append([role, content])
    if merged and merged[-1][0] == USER:
        merged.pop()  # a last question without a reply has no output
    exchanges = [(merged[i][1], merged[i + 1][1]) for i in range(0, len(merged) - 1, 2)]
    *history, (instruction, output) = exchanges
    record: dict[str, Any] = {"instruction": instruction, "input": "", "output": output}
    if system:
        record["system"] = system
    if history:
        record["history"] = [list(h) for h in history]
    record.update(id=example.id, task=example.task)
    return record


def llamafactory(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> dict[str, Any]:
    cols = {"prompt": "instruction", "query": "input", "response": "output"}
    for name in ("system", "history"):
        if any(name in r for r in records):
            cols[name] = name
    return {"formatting": "alpaca", "columns": cols}
