"""The upstream Super-NaturalInstructions task-file format (``Definition``, ``Instances``, languages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inscl.data.formats.records import read_text
from inscl.data.jsonio import loads
from inscl.data.task import Example
from inscl.errors import InputError

_LANGUAGE_FIELDS = ("Input_language", "Output_language", "Instruction_language")


@dataclass
class SuperNITaskFile:
    """One upstream natural-instructions task file, validated.

    ``examples`` carry ``task = name`` (the file stem); callers that group files into
    categories re-label them.
    """

    path: Path
    name: str
    instruction: str
    categories: list[str]
    domains: list[str]
    inscl_category: str | None
    english: bool
    examples: list[Example] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return self.path.name


def _str_list(data: dict[str, Any], key: str, path: Path, *, required: bool) -> list[str]:
    value = data.get(key)
    if value is None:
        if required:
            raise InputError("missing", path=path, field=key)
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("expected a list of strings", path=path, field=key)
    return value


def is_english_task(data: dict[str, Any]) -> bool:
    """True when Input, Output and Instruction language all list English."""
    for key in _LANGUAGE_FIELDS:
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not any(isinstance(v, str) and "English" in v for v in value):
            return False
    return True


def read_superni_task_file(path: str | Path, max_instances: int | None = None) -> SuperNITaskFile:
    """Reads and validates an upstream task file (``Definition``, ``Instances``, languages).

    The instruction is the ``Definition`` (its strings joined by a blank line; upstream
    files hold exactly one); each instance gives ``input``, its first ``output`` as the
    training target and, when it has several, all of them as ``references``.
    ``max_instances`` keeps the first N instances (upstream order).
    """
    path = Path(path)
    data = loads(read_text(path), path)
    if not isinstance(data, dict):
        raise InputError("expected a SuperNI task object with 'Definition' and 'Instances'", path=path)
    definition = [d.strip() for d in _str_list(data, "Definition", path, required=True) if d.strip()]
    if not definition:
        raise InputError("empty (the Definition is the task's instruction)", path=path, field="Definition")
    instruction = "\n\n".join(definition)
    instances = data.get("Instances")
    if not isinstance(instances, list):
        raise InputError("missing or not a list", path=path, field="Instances")
    if max_instances is not None:
        instances = instances[:max_instances]
    inscl_category = data.get("InsCL_Category")
    if inscl_category is not None and not isinstance(inscl_category, str):
        raise InputError("expected a string", path=path, field="InsCL_Category")
    name = path.stem
    examples: list[Example] = []
    seen: set[str] = set()
    for i, inst in enumerate(instances):
        where = f"Instances[{i}]"
        if not isinstance(inst, dict):
            raise InputError("expected an object", path=path, field=where)
        inp = inst.get("input", "")
        if not isinstance(inp, str):
            raise InputError("expected a string", path=path, field=f"{where}.input")
        out = inst.get("output")
        if isinstance(out, str):
            out = [out]
        if not isinstance(out, list) or not out or not all(isinstance(o, str) for o in out):
            raise InputError("expected a non-empty list of strings", path=path, field=f"{where}.output")
        ex_id = inst.get("id")
        if ex_id is None:
            ex_id = f"{name}-{i}"
        if not isinstance(ex_id, (str, int)) or isinstance(ex_id, bool):
            raise InputError("expected a string", path=path, field=f"{where}.id")
        ex_id = str(ex_id)
        if ex_id in seen:
            raise InputError(f"duplicate id {ex_id!r}", path=path, field=f"{where}.id")
        seen.add(ex_id)
        # The first output is the training target; all of them are references (SuperNI scores the best).
        examples.append(Example(instruction=instruction, input=inp, output=out[0], id=ex_id, task=name,
                                references=tuple(out) if len(out) > 1 else ()))
    return SuperNITaskFile(
        path=path, name=name, instruction=instruction,
        categories=_str_list(data, "Categories", path, required=False),
        domains=_str_list(data, "Domains", path, required=False),
        inscl_category=inscl_category or None, english=is_english_task(data), examples=examples,
    )


def load_superni_task_file(path: str | Path) -> list[Example]:
    """The examples of one upstream task file (instruction = Definition, output = first output,
    references = all outputs)."""
    return read_superni_task_file(path).examples


def looks_like_superni(path: Path) -> bool:
    """True when a ``.json`` file's head looks like an upstream task object."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096).lstrip("\ufeff").lstrip()
    except OSError:
        return False  # the format's reader reports the problem with the file
    return head.startswith("{") and ('"Definition"' in head or '"Contributors"' in head)
