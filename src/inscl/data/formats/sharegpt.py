"""The ShareGPT format: ``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}], "system"?}``.

Role names seen in the wild are accepted (``human``/``user``, ``gpt``/``assistant``/
``chatgpt``/``bing``/``bard``/``model``, ``system``, and LLaMA-Factory's tool roles
``observation``/``function_call``); a record-level ``system`` string (LLaMA-Factory's
column) comes before the turns. The instruction follows :mod:`inscl.data.formats.conversation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.formats.base import InvalidConversation, Parsed, ReadOptions, build_task
from inscl.data.formats.conversation import ASSISTANT, SYSTEM, USER, Turn, parse_turns, split_system
from inscl.data.task import Example, Task
from inscl.errors import InputError

NAME = "sharegpt"
FIELDS = ("conversations", "system", "id", "task")

_ROLES = {"human": USER, "user": USER, "gpt": ASSISTANT, "assistant": ASSISTANT, "chatgpt": ASSISTANT,
          "bing": ASSISTANT, "bard": ASSISTANT, "model": ASSISTANT, "system": SYSTEM,
          "observation": "observation", "function_call": "function_call"}
_WRITE_ROLES = {USER: "human", ASSISTANT: "gpt", SYSTEM: "system"}


def detect(record: Mapping[str, Any]) -> bool:
    return "conversations" in record


def _turns(record: Mapping[str, Any], path: Path, line: int
           ) -> tuple[list[Turn], Callable[[int], str], list[str]]:
    conv = record.get("conversations")
    if conv is None:
        raise InputError("missing", path=path, line=line, field="conversations")
    if not isinstance(conv, list):
        raise InputError(f"expected a list of turns, got {type(conv).__name__}", path=path, line=line,
                         field="conversations")
    turns: list[Turn] = []
    names: list[str] = []
    system = record.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise InputError(f"expected a string, got {type(system).__name__}", path=path, line=line,
                             field="system")
        if system.strip():
            turns.append((SYSTEM, system))
            names.append("system")
    offset = len(turns)
    if not conv:
        raise InvalidConversation("empty conversation (nothing to train on)", path=path, line=line,
                                  field="conversations")
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise InputError(f"expected an object with 'from' and 'value', got {type(turn).__name__}",
                             path=path, line=line, field=f"conversations[{i}]")
        role, value = turn.get("from"), turn.get("value")
        kind = _ROLES.get(role) if isinstance(role, str) else None
        if kind is None:
            why = "missing or not a string" if not isinstance(role, str) else (
                f"unknown role {role!r} (expected one of {', '.join(_ROLES)})")
            raise InputError(why, path=path, line=line, field=f"conversations[{i}].from")
        if not isinstance(value, str):
            got = "missing" if value is None else f"expected a string, got {type(value).__name__}"
            raise InputError(got, path=path, line=line, field=f"conversations[{i}].value")
        turns.append((kind, value))
        names.append(role)

    def where(i: int) -> str:
        return "system" if i < offset else f"conversations[{i - offset}].from"

    return turns, where, names


def parse(record: Mapping[str, Any], path: Path, line: int, options: ReadOptions) -> Parsed:
    turns, where, names = _turns(record, path, line)
    return parse_turns(turns, where, path, line, options, names)


def load(path: Path, records: Iterable[tuple[int, Any]], task_name: str | None, options: ReadOptions,
         skipped: list[InputError] | None = None) -> Task:
    return build_task(path, records, parse, format_name=NAME, task_name=task_name, options=options,
                      skipped=skipped)


def turns(record: Mapping[str, Any]) -> list[Turn]:
    """The turns of a record that :func:`parse` accepted."""
    return _turns(record, Path("-"), 0)[0]


def from_turns(turns: Sequence[Turn], example: Example, conversational: bool = True) -> dict[str, Any]:
    """A ShareGPT record: the system prompt goes to the ``system`` column (LLaMA-Factory's)."""
    system, rest = split_system(turns)
    record: dict[str, Any] = {"conversations": [{"from": _WRITE_ROLES.get(r, r), "value": c} for r, c in rest]}
    if system:
        record["system"] = system
    record.update(id=example.id, task=example.task)
    return record


def llamafactory(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> dict[str, Any]:
    """The ``dataset_info.json`` entry (without ``file_name``) for these written records.

    The role names are the ones the records use: LLaMA-Factory takes one name per role.
    """
    messages = columns.get("conversations", "conversations")
    system = columns.get("system", "system")
    used: dict[str, set[str]] = {USER: set(), ASSISTANT: set(), SYSTEM: set()}
    for record in records:
        for turn in record.get(messages) or ():
            role = turn.get("from")
            if _ROLES.get(role) in used:
                used[_ROLES[role]].add(role)
    cols = {"messages": messages}
    if any(record.get(system) is not None for record in records):
        cols["system"] = system
    tags = {"role_tag": "from", "content_tag": "value",
            "user_tag": min(used[USER] or {"human"}), "assistant_tag": min(used[ASSISTANT] or {"gpt"}),
            "system_tag": "system"}
    return {"formatting": "sharegpt", "columns": cols, "tags": tags,
            "_mixed_roles": sorted(r for names in used.values() if len(names) > 1 for r in names)}
