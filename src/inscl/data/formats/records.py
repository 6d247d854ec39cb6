"""Record readers shared by every file format: UTF-8 text, JSONL and JSON lists with line numbers.

Each reader yields ``(line, record)`` pairs so that format modules can name the line of a
bad record in their :class:`~inscl.errors.InputError`. Lines are split by the package's
one JSONL line reader (:mod:`inscl.data.jsonio`: ``"\\n"`` only, BOM accepted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inscl.data.jsonio import iter_json_lines
from inscl.data.jsonio import read_text as _read_text
from inscl.errors import InputError


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark dropped)."""
    return _read_text(path)


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def iter_jsonl_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    yield from iter_json_lines(path, text)


def iter_json_list_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Decodes a JSON list element by element so that each record knows its start line."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def fail(msg: str, pos: int) -> InputError:
        return InputError(msg, path=path, line=line_of(text, pos))

    # Line numbers are counted incrementally from the previous record (counting from the
    # start of the text for every record made a 50,000-record file take minutes).
    counted_pos, counted_line = 0, 1

    def line_at(p: int) -> int:
        nonlocal counted_pos, counted_line
        counted_line += text.count("\n", counted_pos, p)
        counted_pos = p
        return counted_line

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
                # exc.pos indexes the whole text, so the line is counted from the file's start
                raise InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", path=path,
                                 line=line_of(text, exc.pos)) from None
            except RecursionError:
                raise InputError("malformed JSON (nested too deeply to read)", path=path,
                                 line=line_of(text, pos)) from None
            yield line_at(pos), record
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
