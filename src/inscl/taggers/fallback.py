"""A tag table (e.g. LLM tags from a file) with a tagger for the instructions it does not cover.

The SuperNI configs plan with the LLM intention tags of ``../shared/data/superni/llm-tags.jsonl``
(InsTag objects ``{"tag", "explanation"}``). Any instruction missing from the file is
tagged by a fallback tagger (the config's ``tagger``, default ``offline``) with a warning
naming how many instructions were not covered, so mixing tag sources is never silent.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.errors import InputError

__all__ = ["FallbackTagWarning", "TableTagger", "read_tag_table"]

log = logging.getLogger(__name__)


class FallbackTagWarning(UserWarning):
    """Some instructions are not in the tag table and were tagged by the fallback tagger."""


def read_tag_table(path: str | Path) -> dict[str, list[str]]:
    """``{instruction: [tags]}`` from a JSON object or a JSONL file of ``{"instruction", "tags"}``.

    In JSONL, each tag may be a string or an InsTag object ``{"tag": ..., "explanation": ...}``
    (only ``tag`` is kept), and ``tags`` may be a model's raw reply holding such a list;
    other fields (``task_file``) are ignored and a later line wins.
    Errors are :class:`InputError` naming the file, the line and the field.
    """
    path = Path(path)
    if path.suffix == ".json":
        from inscl.data.precomputed import load_tags

        return load_tags(path)
    from inscl.data.jsonio import iter_jsonl  # the project's one JSONL reader (BOM, "\n" lines, deep nesting)
    from inscl.data.precomputed import tag_list

    table: dict[str, list[str]] = {}
    for lineno, record in iter_jsonl(path):
        instruction = record.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("expected a non-empty string", path=path, line=lineno, field="instruction")
        # Strings, InsTag objects or a raw model reply: the shapes inscl plan --tags reads.
        table[instruction] = tag_list(record.get("tags"), path, lineno, "tags")
    if not table:
        raise InputError("no tags in file", path=path)
    return table


def _key(text: str) -> str:
    # Tag files written from raw task files keep a trailing newline or doubled spaces that
    # the loaders strip; whitespace carries no intention.
    return " ".join(text.split())


class TableTagger:
    """Tags from ``table``; instructions it lacks go to ``fallback`` (with a warning).

    An instruction is looked up as is, then with its whitespace collapsed. ``source``
    names the table in the warning and in :attr:`id`. Without a fallback, uncovered
    instructions are absent from the result (the planner then reports them).
    """

    def __init__(self, table: Mapping[str, Sequence[str]], fallback: Any | None = None, source: str = "tags") -> None:
        self.table = {str(k): [str(t) for t in v] for k, v in table.items()}
        self._loose = {_key(k): v for k, v in self.table.items()}
        self.fallback = fallback
        self.source = source
        self.id = f"table:{source}" + (f"+{fallback.id}" if fallback is not None else "")
        self.uncovered: list[str] = []  # every instruction handed to the fallback so far

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        unique = list(dict.fromkeys(instructions))
        out = {s: list(self.table.get(s) or self._loose[_key(s)]) for s in unique
               if s in self.table or _key(s) in self._loose}
        missing = [s for s in unique if s not in out]
        if missing and self.fallback is not None:
            message = (f"{len(missing)} of {len(unique)} instruction(s) are not in {self.source}; tagged with "
                       f"{self.fallback.id} instead (first: {missing[0][:60]!r})")
            warnings.warn(message, FallbackTagWarning, stacklevel=2)
            log.warning(message)
            self.uncovered.extend(missing)
            got = self.fallback.tag(missing)
            out.update({s: list(got[s]) for s in missing if s in got})
        return {s: out[s] for s in unique if s in out}
