"""File formats, one module each: a reader turns one file into a :class:`~inscl.data.task.Task`.

:data:`FORMATS` is the registry of record formats (a new format is one new module and one
line here); the first record of a file picks its format (:func:`detect_format`) unless one
is given. Upstream SuperNI task files are whole-file objects, read by
:mod:`inscl.data.formats.superni`.
"""

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from inscl.data.formats import alpaca, messages, prompt_completion, sharegpt
from inscl.data.formats.alpaca import load_alpaca_file
from inscl.data.formats.base import INSTRUCTION_RULES, ReadOptions
from inscl.data.formats.superni import SuperNITaskFile, looks_like_superni, read_superni_task_file
from inscl.errors import InputError

#: Record formats in detection order: the first whose ``detect`` accepts a record wins.
FORMATS: dict[str, ModuleType] = {
    "sharegpt": sharegpt,
    "messages": messages,
    "prompt_completion": prompt_completion,
    "alpaca": alpaca,
}


def get_format(name: str) -> ModuleType:
    """The format module registered as ``name`` (``prompt-completion`` is accepted too)."""
    module = FORMATS.get(name.replace("-", "_"))
    if module is None:
        raise InputError(f"unknown format {name!r}; valid formats: {', '.join(FORMATS)}", field="--input-format")
    return module


def detect_format(record: Any, path: Path | None = None, line: int | None = None) -> ModuleType:
    """The format of one record, from its fields."""
    if isinstance(record, Mapping):
        for module in FORMATS.values():
            if module.detect(record):
                return module
        keys = ", ".join(sorted(map(str, record))[:8]) or "none"
        why = f"fields: {keys}"
    else:
        why = f"a {type(record).__name__}, not an object"
    raise InputError(f"cannot tell the format of this record ({why}); expected alpaca (instruction, output), "
                     "sharegpt (conversations), messages (messages) or prompt_completion (prompt, completion): "
                     "pass --input-format and/or --columns FIELD=COLUMN", path=path, line=line)


def parse_columns(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"instruction=question,output=answer"`` (or a mapping) as ``{field: column}``."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        pairs = []
        for item in filter(None, (p.strip() for p in spec.split(","))):
            field, sep, column = item.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise InputError(f"expected FIELD=COLUMN, got {item!r}", field="--columns")
            pairs.append((field.strip(), column.strip()))
    out: dict[str, str] = {}
    for field, column in pairs:
        if field in out:
            raise InputError(f"field {field!r} is mapped twice", field="--columns")
        out[field] = column
    return out


def check_columns(module: ModuleType, columns: Mapping[str, str]) -> None:
    unknown = [f for f in columns if f not in module.FIELDS]
    if unknown:
        raise InputError(f"format {module.NAME} has no field {unknown[0]!r}; its fields: "
                         f"{', '.join(module.FIELDS)}", field="--columns")


__all__ = [
    "FORMATS", "INSTRUCTION_RULES", "ReadOptions", "SuperNITaskFile", "check_columns",
    "detect_format", "get_format", "load_alpaca_file", "looks_like_superni", "parse_columns",
    "read_superni_task_file",
]
