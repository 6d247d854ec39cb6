"""JSON and JSONL reading and writing: the one JSONL line reader, and atomic writes.

Every JSONL reader of the package (task files, tag files, embeddings, caches) splits
lines here, on ``"\\n"`` only: :meth:`str.splitlines` also breaks at U+2028, U+2029,
U+0085 and other characters that JSON allows unescaped inside strings, so a valid record
would be cut in two. A UTF-8 byte-order mark is accepted, and JSON nested too deeply for
the decoder is an :class:`~inscl.errors.InputError` like any other malformed input.

Writes go to a temporary file that is renamed at the end: readers see either the old
file or the new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from inscl.errors import InputError

BOM = "\ufeff"


def _umask_mode(bits: int = 0o666) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return bits & ~mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically, with the usual (umask) permissions."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, with the usual (umask) permissions."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file to write ``path`` through: a temporary file beside it, renamed over ``path``
    when the block ends, removed if it raises. ``mode`` is ``"w"`` (UTF-8 text, ``"\n"``
    line ends) or ``"wb"``; the file gets the usual (umask) permissions."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        text = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as fh:
            yield fh
        os.chmod(tmp, _umask_mode())  # mkstemp creates 0600; readers expect normal file modes
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_json_streamed(path: str | Path, doc: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Writes ``doc`` with ``doc[key]`` replaced by the list of ``items``, atomically, byte for
    byte as :func:`write_json` would, without holding the whole text (or list) in memory:
    each item is encoded and written on its own (a plan of 16 x 50,000 instructions holds
    about a GB of per-stage InsInfo and tags)."""
    sentinel = "\x00inscl-streamed-list\x00"
    head = json.dumps({**doc, key: sentinel}, indent=2, ensure_ascii=False)
    marker = json.dumps(sentinel)
    before, after = head.split(marker, 1) if head.count(marker) == 1 else (None, None)
    if before is None:  # the sentinel text occurs in the data itself: fall back to one piece
        write_json(path, {**doc, key: list(items)})
        return
    depth = before.rsplit("\n", 1)[-1].index('"')  # indentation of the key's line
    pad = " " * (depth + 2)
    with atomic_open(path) as fh:
        fh.write(before)
        first = True
        for item in items:
            text = json.dumps(item, indent=2, ensure_ascii=False)
            fh.write(("[\n" if first else ",\n") + pad + text.replace("\n", "\n" + pad))
            first = False
        fh.write("[]" if first else "\n" + " " * depth + "]")
        fh.write(after + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


# ------------------------------------------------------------------------------- reading


def decode_utf8(data: bytes, path: str | Path) -> str:
    """``data`` as text (a leading byte-order mark dropped); bad UTF-8 names its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path, line=line) from None
    return text[1:] if text.startswith(BOM) else text


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path`` (BOM accepted); any read problem is an :class:`InputError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a folder, expected a file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or exc})", path=path) from None
    return decode_utf8(data, path)


def split_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` of every non-blank line, split on ``"\\n"`` only (see the module doc)."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield lineno, line


def loads(text: str, path: str | Path | None = None, line: int | None = None, what: str = "JSON") -> Any:
    """``json.loads`` whose failures are :class:`InputError` naming ``path`` and the line.

    ``line`` is the line ``text`` starts on (for one JSONL line); without it the decoder's
    own line number is used.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {what} ({exc.msg}, column {exc.colno})", path=path,
                         line=exc.lineno if line is None else line + exc.lineno - 1) from None
    except RecursionError:
        raise InputError(f"malformed {what} (nested too deeply to read)", path=path, line=line) from None


def iter_json_lines(path: str | Path, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yields ``(line_number, value)`` of every non-blank JSONL line (any JSON value)."""
    path = Path(path)
    if text is None:
        text = read_text(path)
    for lineno, line in split_lines(text):
        yield lineno, loads(line, path, lineno, what="JSON line")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields ``(line_number, record)``; blank lines are skipped, objects are required."""
    for lineno, record in iter_json_lines(path):
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=lineno)
        yield lineno, record


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [r for _, r in iter_jsonl(path)]


def read_json(path: str | Path) -> Any:
    """The JSON document in ``path``; every problem is an :class:`InputError`."""
    return loads(read_text(path), path)
