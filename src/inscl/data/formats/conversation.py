"""Conversations: what InsCL calls their instruction, and how turns map to and from flat examples.

A conversation is a list of turns ``(role, content)`` with roles ``system``, ``user``,
``assistant`` (or a tool role, kept but never the instruction). The whole conversation is
the training example (``Example.source``); the method needs one instruction per example:

* ``system+user`` (default): the system prompt(s) and the first user turn, joined by a
  blank line. The task's instruction sits in either place in real data (a SuperNI task
  turned into chat puts its definition in the system prompt; ShareGPT puts the request in
  the first user turn), so taking both never loses it; a constant persona prompt only adds
  the same prefix to every instruction.
* ``user``: the first user turn alone (data whose system prompts are boilerplate).
* ``system``: the system prompt, with the first user turn as the example's input: the
  SuperNI shape (one instruction per task); the first user turn when there is no system prompt.

Later turns follow the first request, so they are trained on but do not define the intent.
A conversation must open (after system turns) with a user turn and have an assistant reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from inscl.data.formats.base import InvalidConversation, Parsed, ReadOptions
from inscl.data.task import Example

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"

#: (role, content) with role one of SYSTEM, USER, ASSISTANT or a tool role.
Turn = tuple[str, str]


def parse_turns(turns: Sequence[Turn], where: Callable[[int], str], path: Path, line: int,
                options: ReadOptions, names: Sequence[str] | None = None) -> Parsed:
    """The instruction, input and first reply of a conversation (roles already normalised).

    ``where(i)`` is the field name of turn ``i`` and ``names[i]`` its role as written, for
    error messages (built only when there is an error).
    """
    if not turns:
        raise InvalidConversation("empty conversation (nothing to train on)", path=path, line=line)
    i = 0
    systems: list[str] = []
    while i < len(turns) and turns[i][0] == SYSTEM:
        systems.append(turns[i][1])
        i += 1
    if i == len(turns):
        raise InvalidConversation("only system turns (nothing to train on)", path=path, line=line,
                                  field=where(len(turns) - 1))
    role, user = turns[i]
    if role != USER:
        raise InvalidConversation(
            f"the first non-system turn is from {(names[i] if names else role)!r}, not the user (InsCL takes the user's request as "
            "the instruction; a split-off continuation of a longer chat?)", path=path, line=line, field=where(i))
    if not user.strip():
        raise InvalidConversation("empty first user turn (it is the instruction)", path=path, line=line,
                                  field=where(i))
    reply = next((content for r, content in turns[i + 1:] if r == ASSISTANT), None)
    if reply is None:
        raise InvalidConversation("no assistant turn after the first user turn (nothing to train on)",
                                  path=path, line=line, field=where(i))
    system = "\n\n".join(s for s in systems if s.strip())
    if options.instruction == "user" or not system:
        return Parsed(user, "", reply)
    if options.instruction == "system":
        return Parsed(system, user, reply)
    return Parsed(f"{system}\n\n{user}", "", reply)


def example_turns(example: Example) -> list[Turn]:
    """A flat example as one exchange: the user turn is ``instruction``, a newline, ``input``.

    The newline join is LLaMA-Factory's for alpaca records, so a plan written with
    ``--format alpaca`` and one written with ``--format sharegpt`` train on the same text.
    """
    prompt = f"{example.instruction}\n{example.input}" if example.input else example.instruction
    return [(USER, prompt), (ASSISTANT, example.output)]


def split_system(turns: Sequence[Turn]) -> tuple[str | None, list[Turn]]:
    """The leading system prompt (joined) and the remaining turns."""
    i = 0
    while i < len(turns) and turns[i][0] == SYSTEM:
        i += 1
    system = "\n\n".join(c for _, c in turns[:i]) if i else None
    return system, list(turns[i:])
