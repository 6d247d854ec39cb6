"""Where records come from: JSON/JSONL text, Parquet and Arrow files, ``datasets`` ``save_to_disk`` folders.

Every source yields ``(line, record)`` pairs; for tables the "line" is the 1-based row
number, so errors read ``data.parquet:12, field 'output': missing``. Tables are read
through Hugging Face ``datasets`` (offline: nothing is fetched, nothing is cached).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inscl.data.formats.records import iter_json_list_records, iter_jsonl_records, read_text
from inscl.errors import InputError

JSON_SUFFIXES = (".jsonl", ".json")
TABLE_SUFFIXES = (".parquet", ".arrow")


def is_dataset_folder(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def iter_json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """A JSON list or JSONL: the first non-blank character decides, not the suffix."""
    text = read_text(path)
    first = text.lstrip("\ufeff \t\r\n")[:1]
    if first == "[":
        yield from iter_json_list_records(path, text)
        return
    if first == "{" and path.suffix == ".json":
        try:
            whole = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            whole = None  # JSONL saved as .json (or too deep: the line reader reports it)
        if isinstance(whole, dict):
            if "Instances" in whole or "Definition" in whole:
                raise InputError("expected a JSON list of records or JSONL, got one object (a SuperNI task "
                                 "file: pass it to --tasks / load_tasks)", path=path, line=1)
            yield 1, whole  # one record saved as .json
            return
    yield from iter_jsonl_records(path, text)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dev/train dependency
        raise InputError("reading Parquet/Arrow files and datasets folders needs the package datasets: "
                         "pip install 'datasets>=2.19'") from None
    return datasets


def _rows(dataset: Any) -> Iterator[tuple[int, Any]]:
    # Arrow record batches to Python rows: 3x faster than iterating the Dataset row by row
    # (same values for the plain columns task data holds).
    if getattr(dataset, "_indices", None) is not None:
        dataset = dataset.flatten_indices()
    line = 0
    for batch in dataset.data.table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            line += 1
            yield line, row


def open_table(path: Path) -> Any:
    """A ``datasets.Dataset`` (or ``DatasetDict``) for a Parquet/Arrow file or a saved folder."""
    ds = _datasets()
    try:
        if path.is_dir():
            return ds.load_from_disk(str(path))
        if path.suffix == ".arrow":
            return ds.Dataset.from_file(str(path))
        import pyarrow.parquet as pq

        # Wrapping the table directly: Dataset.from_parquet would build and cache a copy.
        return ds.Dataset(pq.read_table(path))
    except InputError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged or foreign file
        raise InputError(f"cannot read as a dataset ({type(exc).__name__}: {exc})", path=path) from None


def table_splits(path: Path) -> dict[str, Any]:
    """The splits of a table source: ``{"": dataset}`` for one table, the splits of a ``DatasetDict``."""
    data = open_table(path)
    if isinstance(data, _datasets().DatasetDict):
        return dict(data)
    return {"": data}


def iter_table_records(dataset: Any) -> Iterator[tuple[int, Any]]:
    return _rows(dataset)
