"""TRL's prompt-completion format: ``{"prompt": ..., "completion": ...}``, strings or message lists.

Standard form (strings): the prompt is the instruction, the completion the output.
Conversational form (lists of ``{"role", "content"}``): the prompt messages and the
completion messages form one conversation, read like :mod:`inscl.data.formats.messages`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.formats.base import Parsed, ReadOptions, build_task
from inscl.data.formats.conversation import ASSISTANT, USER, Turn, parse_turns
from inscl.data.formats.messages import message_turns, to_messages
from inscl.data.task import Example, Task
from inscl.errors import InputError

NAME = "prompt_completion"
FIELDS = ("prompt", "completion", "id", "task")


def detect(record: Mapping[str, Any]) -> bool:
    return "prompt" in record and "completion" in record


def _check(record: Mapping[str, Any], path: Path, line: int
           ) -> tuple[list[Turn], Callable[[int], str]] | None:
    """The turns of a conversational record, or None for a standard (string) one."""
    prompt, completion = record.get("prompt"), record.get("completion")
    for name, value in (("prompt", prompt), ("completion", completion)):
        if value is None:
            raise InputError("missing", path=path, line=line, field=name)
        if not isinstance(value, (str, list)):
            raise InputError(f"expected a string or a list of messages, got {type(value).__name__}",
                             path=path, line=line, field=name)
    if isinstance(prompt, str) != isinstance(completion, str):
        raise InputError("prompt and completion must both be strings or both be message lists", path=path,
                         line=line, field="completion")
    if isinstance(prompt, str):
        return None
    p_turns, p_where = message_turns(prompt, "prompt", path, line)
    c_turns, c_where = message_turns(completion, "completion", path, line, offset=len(p_turns))

    def where(i: int) -> str:
        return p_where(i) if i < len(p_turns) else c_where(i)

    return p_turns + c_turns, where


def parse(record: Mapping[str, Any], path: Path, line: int, options: ReadOptions) -> Parsed:
    conversation = _check(record, path, line)
    if conversation is not None:
        return parse_turns(*conversation, path, line, options)
    prompt, completion = record["prompt"], record["completion"]
    if not prompt.strip():
        raise InputError("empty (the prompt is the instruction)", path=path, line=line, field="prompt")
    return Parsed(prompt, "", completion)


def load(path: Path, records: Iterable[tuple[int, Any]], task_name: str | None, options: ReadOptions,
         skipped: list[InputError] | None = None) -> Task:
    return build_task(path, records, parse, format_name=NAME, task_name=task_name, options=options,
                      skipped=skipped)


def is_conversational(record: Mapping[str, Any]) -> bool:
    return isinstance(record.get("prompt"), list)


def turns(record: Mapping[str, Any]) -> list[Turn]:
    conversation = _check(record, Path("-"), 0)
    if conversation is None:
        return [(USER, record["prompt"]), (ASSISTANT, record["completion"])]
    return conversation[0]


def from_turns(turns: Sequence[Turn], example: Example, conversational: bool = True) -> dict[str, Any]:
    """Conversational: everything before the last assistant turn is the prompt. Standard:
    the single exchange as strings (``conversational=False`` is only asked for one exchange)."""
    last = max(i for i, (role, _) in enumerate(turns) if role == ASSISTANT)
    if not conversational:
        return {"prompt": turns[0][1], "completion": turns[last][1], "id": example.id, "task": example.task}
    return {"prompt": to_messages(turns[:last]), "completion": to_messages(turns[last:last + 1]),
            "id": example.id, "task": example.task}


def llamafactory(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> dict[str, Any] | None:
    """Standard records are alpaca with other column names; LLaMA-Factory has no conversational
    prompt-completion formatting (None: no entry)."""
    if any(is_conversational(r) for r in records):
        return None
    return {"formatting": "alpaca", "columns": {"prompt": columns.get("prompt", "prompt"),
                                                "response": columns.get("completion", "completion")}}
