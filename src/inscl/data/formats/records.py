"""Record readers shared by every file format: UTF-8 text, JSONL and JSON lists with line numbers.

Each reader yields ``(line, record)`` pairs so that format modules can name the line of a
bad record in their :class:`~inscl.errors.InputError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inscl.errors import InputError


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=path) from None


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def iter_jsonl_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON line ({exc.msg}, column {exc.colno})", path=path,
                             line=lineno) from None


def iter_json_list_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Decodes a JSON list element by element so that each record knows its start line."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def fail(msg: str, pos: int) -> InputError:
        return InputError(msg, path=path, line=line_of(text, pos))

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
            yield line_of(text, pos), record
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

