"""Writing examples back as records: in their own format by default, or converted to another.

An example read from a conversation file keeps its record (``Example.source``); written
in that same format it comes back unchanged (the same JSON content). Otherwise its turns
(the source's, or one exchange built from instruction, input and output) are converted:

* ``alpaca``: ``instruction``/``input``/``output``/``id``/``task``; a multi-turn
  conversation becomes LLaMA-Factory's ``system`` + ``history`` form;
* ``sharegpt``: ``conversations`` of ``{"from": "human"|"gpt", "value"}``, ``system``;
* ``messages``: ``messages`` of ``{"role", "content"}``;
* ``prompt_completion``: TRL's ``prompt``/``completion`` (strings when every example is one
  exchange, message lists otherwise: one file never mixes the two).

Converted records carry ``id`` and ``task``. :meth:`RecordWriter.llamafactory` gives the
``dataset_info.json`` entry of a written file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inscl.data.formats import FORMATS, get_format
from inscl.data.formats.base import with_columns
from inscl.data.formats.conversation import example_turns
from inscl.data.formats.prompt_completion import is_conversational
from inscl.data.jsonio import write_jsonl
from inscl.data.task import Example, Task
from inscl.errors import InputError

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion")
DATASET_KINDS = ("parquet", "arrow")
_CONVERSATIONS = ("sharegpt", "messages", "prompt_completion")


def choose_format(tasks: Sequence[Task], requested: str | None = None) -> str:
    """The output format: ``requested``, else the tasks' common format (alpaca for SuperNI),
    else ``sharegpt`` when some task holds conversations (no conversation is cut), else alpaca."""
    if requested is not None:
        name = requested.replace("-", "_")
        if name not in OUTPUT_FORMATS:
            raise InputError(f"unknown format {requested!r}; valid formats: {', '.join(OUTPUT_FORMATS)}",
                             field="--format")
        return name
    formats = {_task_format(t) for t in tasks}
    if len(formats) == 1:
        return formats.pop()
    return "sharegpt" if formats & set(_CONVERSATIONS) else "alpaca"


def _task_format(task: Task) -> str:
    fmt = task.metadata.get("format", "alpaca")
    return fmt if fmt in OUTPUT_FORMATS else "alpaca"


@dataclass
class RecordWriter:
    """Turns examples of ``tasks`` into records of ``format``.

    ``columns`` is the column mapping the tasks were read with; converted records of a
    conversation format use the mapped column names too, so that one file has one schema.
    """

    format: str
    tasks: Sequence[Task]
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.module = get_format(self.format)
        # prompt_completion: strings only when every example is a single plain exchange.
        self.conversational = self.format == "prompt_completion" and any(
            self.source_format(e) in ("sharegpt", "messages")
            or (self.source_format(e) == "prompt_completion" and is_conversational(e.source))
            for t in self.tasks for e in t.examples)
        self._rename = {} if self.format == "alpaca" else {
            k: v for k, v in self.columns.items() if k in self.module.FIELDS and k != v}

    def source_format(self, example: Example) -> str | None:
        """The format of the record ``example`` was read from (None when it keeps none)."""
        source = getattr(example, "source", None)
        if source is None:
            return None
        view = with_columns(source, self.columns)
        return next((name for name, module in FORMATS.items() if module.detect(view)), None)

    def record(self, example: Example) -> dict[str, Any]:
        if not isinstance(example, Example):
            raise TypeError(f"expected an Example, got {type(example).__name__}")
        fmt = self.source_format(example)
        source = example.source
        if source is not None and fmt == self.format and (
                fmt != "prompt_completion" or is_conversational(source) == self.conversational):
            return dict(source)
        if source is not None and fmt in _CONVERSATIONS:
            turns = FORMATS[fmt].turns(with_columns(source, self.columns))
        else:
            turns = example_turns(example)
        record = self.module.from_turns(turns, example, self.conversational)
        if self._rename:
            record = {self._rename.get(k, k): v for k, v in record.items()}
        return record

    def records(self, examples: Iterable[Example]) -> list[dict[str, Any]]:
        return [self.record(e) for e in examples]

    def llamafactory(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """The ``dataset_info.json`` entry (no ``file_name``), or None when LLaMA-Factory cannot read it."""
        columns = self.columns if self.format != "alpaca" else {}
        entry = self.module.llamafactory(records, columns)
        if entry is None:
            return None
        mixed = entry.pop("_mixed_roles", None)
        if mixed:
            log.warning("the records use several names for one role (%s); LLaMA-Factory reads one: pass "
                        "--format sharegpt or messages to normalise them", ", ".join(mixed))
        return entry


def write_records(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """JSONL, one record a line (atomic)."""
    write_jsonl(path, records)


def write_dataset(path: Path, records: Sequence[Mapping[str, Any]], kind: str) -> Path:
    """The records as a ``datasets`` table: ``<path>.parquet`` or a ``save_to_disk`` folder ``<path>``."""
    import datasets

    if kind not in DATASET_KINDS:
        raise InputError(f"unknown dataset kind {kind!r}; valid kinds: {', '.join(DATASET_KINDS)}",
                         field="--write-datasets")
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per stage file is noise
    try:
        ds = datasets.Dataset.from_list([dict(r) for r in records])
        if kind == "parquet":
            target = path.with_suffix(".parquet")
            ds.to_parquet(str(target))
            return target
        ds.save_to_disk(str(path))
        return path
    finally:
        if bars:
            datasets.enable_progress_bars()
