"""The OpenAI/TRL ``messages`` format: ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}``.

Roles ``system`` (and OpenAI's ``developer``), ``user``, ``assistant`` and ``tool``;
``content`` is a string. The instruction follows :mod:`inscl.data.formats.conversation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.formats.base import InvalidConversation, Parsed, ReadOptions, build_task
from inscl.data.formats.conversation import ASSISTANT, SYSTEM, USER, Turn, parse_turns
from inscl.data.task import Example, Task
from inscl.errors import InputError

NAME = "messages"
FIELDS = ("messages", "id", "task")

_ROLES = {"system": SYSTEM, "developer": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": "tool"}


def detect(record: Mapping[str, Any]) -> bool:
    return "messages" in record


def message_turns(messages: Any, name: str, path: Path, line: int, offset: int = 0
                  ) -> tuple[list[Turn], Callable[[int], str]]:
    """Validated turns of a message list stored under field ``name``; ``where(i)`` names turn
    ``i`` counted from ``offset`` (for a prompt and completion read as one conversation)."""
    if messages is None:
        raise InputError("missing", path=path, line=line, field=name)
    if not isinstance(messages, list):
        raise InputError(f"expected a list of messages, got {type(messages).__name__}", path=path, line=line,
                         field=name)
    if not messages:
        raise InvalidConversation("empty conversation (nothing to train on)", path=path, line=line, field=name)
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InputError(f"expected an object with 'role' and 'content', got {type(msg).__name__}",
                             path=path, line=line, field=f"{name}[{i}]")
        role, content = msg.get("role"), msg.get("content")
        kind = _ROLES.get(role) if isinstance(role, str) else None
        if kind is None:
            why = "missing or not a string" if not isinstance(role, str) else (
                f"unknown role {role!r} (expected one of {', '.join(_ROLES)})")
            raise InputError(why, path=path, line=line, field=f"{name}[{i}].role")
        if not isinstance(content, str):
            got = "missing" if content is None else f"expected a string, got {type(content).__name__}"
            raise InputError(got, path=path, line=line, field=f"{name}[{i}].content")
        turns.append((kind, content))

    def where(i: int) -> str:
        return f"{name}[{i - offset}].role"

    return turns, where


def parse(record: Mapping[str, Any], path: Path, line: int, options: ReadOptions) -> Parsed:
    turns, where = message_turns(record.get("messages"), "messages", path, line)
    return parse_turns(turns, where, path, line, options)


def load(path: Path, records: Iterable[tuple[int, Any]], task_name: str | None, options: ReadOptions,
         skipped: list[InputError] | None = None) -> Task:
    return build_task(path, records, parse, format_name=NAME, task_name=task_name, options=options,
                      skipped=skipped)


def turns(record: Mapping[str, Any]) -> list[Turn]:
    return message_turns(record.get("messages"), "messages", Path("-"), 0)[0]


def to_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    return [{"role": role if role in (SYSTEM, USER, ASSISTANT) else "tool", "content": c} for role, c in turns]


def from_turns(turns: Sequence[Turn], example: Example, conversational: bool = True) -> dict[str, Any]:
    return {"messages": to_messages(turns), "id": example.id, "task": example.task}


def llamafactory(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> dict[str, Any]:
    """LLaMA-Factory reads ``messages`` as ``sharegpt`` formatting with OpenAI role tags."""
    return {"formatting": "sharegpt", "columns": {"messages": columns.get("messages", "messages")},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant", "system_tag": "system", "observation_tag": "tool"}}
