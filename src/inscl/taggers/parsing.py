"""Tolerant extraction of tags from an LLM reply.

Accepted shapes, anywhere in the reply (code fences and text around them are
ignored): a JSON list of ``{"tag": ..., "explanation": ...}`` objects, a list of
strings, a single object, an object with a ``"tags"`` list, several objects one
after another (JSON lines), and Python-literal quoting (``{'tag': 'x'}``).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TAG_KEYS = ("tag", "Tag", "name", "intention", "label")


class TagParseError(ValueError):
    """The reply holds no recognisable tag structure."""


def _tags_from(value: Any) -> list[str] | None:
    """Tags held by one decoded JSON value, or None when it is not a tag structure."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            tags = _tags_from(item)
            if tags is None:
                return None
            out.extend(tags)
        return out
    if isinstance(value, dict):
        for key in _TAG_KEYS:
            if isinstance(value.get(key), str):
                return [value[key]] if value[key].strip() else []
        if isinstance(value.get("tags"), list):
            return _tags_from(value["tags"])
    return None


def _decode_all(text: str) -> list[Any]:
    """Every JSON (or Python-literal) value that starts at a '[' or '{' in ``text``, left to right."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    i = 0
    while i < len(text):
        if text[i] not in "[{":
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            value, end = _literal_at(text, i)
        if end > i:
            values.append(value)
            i = end
        else:
            i += 1
    return values


def _literal_at(text: str, start: int) -> tuple[Any, int]:
    """A Python literal (single quotes) starting at ``start``: tries each matching closer."""
    closer = "]" if text[start] == "[" else "}"
    end = text.find(closer, start)
    while end != -1:
        try:
            return ast.literal_eval(text[start:end + 1]), end + 1
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            end = text.find(closer, end + 1)
    return None, start


def parse_tags(reply: str) -> list[str]:
    """The tags in an LLM reply, stripped and de-duplicated in order.

    Raises :class:`TagParseError` when no tag structure can be found.
    """
    if not isinstance(reply, str):
        raise TagParseError(f"expected text, got {type(reply).__name__}")
    fenced = _FENCE.findall(reply)
    sources = fenced + [reply] if fenced else [reply]
    for source in sources:
        tags: list[str] = []
        found = False
        for value in _decode_all(source):
            got = _tags_from(value)
            if got is not None:
                found = True
                tags.extend(got)
        if found:
            return list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    raise TagParseError(f"no JSON tag list in reply: {reply[:120]!r}")
