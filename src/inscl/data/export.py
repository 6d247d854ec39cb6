"""Writing a replay plan to disk for training frameworks.

Layout of ``out_dir`` (see docs/planner.md)::

    plan.json                          # ReplayPlanner.to_dict() plus the stage folders
    dataset_info.json                  # LLaMA-Factory dataset registry
    data/<task>.train.jsonl            # only with ``test_tasks``: the splits that were used
    data/<task>.test.jsonl
    stage_<tt>_<task>/replay.jsonl     # the replayed examples of previous tasks
    stage_<tt>_<task>/mixture.jsonl    # task t's training examples + replay, shuffled
    stage_<tt>_<task>/mixture.parquet  # only with ``datasets="parquet"`` (``mixture/`` with "arrow")

Every JSONL record is in one format (:mod:`inscl.data.writers`): by default the input's
own (a conversation comes back as the same record; alpaca and SuperNI give alpaca
objects ``instruction``, ``input``, ``output``, ``id``, ``task``), which
``datasets.load_dataset("json", data_files=...)`` reads as is. Everything is written into a
temporary folder beside ``out_dir`` that is renamed at the end, so a failure never leaves
a partial ``out_dir``. The folder holds the marker ``.inscl-output``
(kind ``plan``, see :mod:`inscl.outdir`): ``overwrite`` replaces only such a folder or an
empty one, never a folder the user filled or one that holds an input.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inscl.data.jsonio import write_json, write_json_streamed
from inscl.data.task import Task
from inscl.data.writers import DATASET_KINDS, RecordWriter, choose_format, write_dataset, write_records
from inscl.errors import InputError
from inscl.outdir import check_output_dir, make_temp_dir, replace_dir, write_marker
from inscl.replay.planner import ReplayPlanner

__all__ = ["dataset_name", "stage_dir_name", "write_plan"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` with every run of characters unsafe in a file name replaced by ``_``."""
    return _UNSAFE.sub("_", name).strip("._") or "task"


def stage_dir_name(index: int, task: str, n_stages: int = 0) -> str:
    """``stage_<tt>_<task>``: the stage number zero-padded to two digits (more if needed)."""
    width = max(2, len(str(n_stages)))
    return f"stage_{index:0{width}d}_{safe_name(task)}"


def dataset_name(stage_dir: str, replay: bool = False) -> str:
    """The LLaMA-Factory dataset name of a stage's mixture (or replay) file."""
    return f"inscl_{stage_dir}" + ("_replay" if replay else "")


def write_plan(planner: ReplayPlanner, tasks: Sequence[Task], out_dir: str | Path, *,
               test_tasks: Sequence[Task] | None = None, overwrite: bool = False,
               inputs: Iterable[str | Path] = (), format: str | None = None,
               datasets: str | None = None) -> Path:
    """Writes the plan of ``planner`` for the training tasks ``tasks`` into ``out_dir``.

    Parameters
    ----------
    planner:
        A planner whose stages were planned on ``tasks`` (same names, same order).
    tasks:
        The training split of every task, in stream order; mixtures use all of it.
    out_dir:
        Created by this call. An existing non-empty folder is an :class:`InputError`
        unless ``overwrite`` and it is a plan folder written by inscl.
    test_tasks:
        The matching test splits; when given, ``data/<task>.train.jsonl`` and
        ``data/<task>.test.jsonl`` are written too.
    inputs:
        Paths the plan was made from; ``out_dir`` may not be, contain or lie inside one.
    format:
        The record format of every file (``alpaca``, ``sharegpt``, ``messages``,
        ``prompt_completion``); default: the tasks' own (:func:`inscl.data.writers.choose_format`).
    datasets:
        ``"parquet"`` or ``"arrow"`` also writes each stage's mixture and replay as a
        Parquet file or a ``datasets`` ``save_to_disk`` folder.

    Returns the path of ``plan.json``.
    """
    out_dir = Path(out_dir)
    tasks = list(tasks)
    names = [t.name for t in tasks]
    if names != planner.order:
        raise ValueError(f"tasks {names} do not match the planner's stream {planner.order}")
    if test_tasks is not None and [t.name for t in test_tasks] != names:
        raise ValueError("test_tasks must hold the same tasks in the same order as tasks")
    if datasets is not None and datasets not in DATASET_KINDS:
        raise InputError(f"unknown dataset kind {datasets!r}; valid kinds: {', '.join(DATASET_KINDS)}",
                         field="--write-datasets")
    columns: dict[str, str] = {}
    for t in tasks:
        columns.update(t.metadata.get("columns") or {})
    writer = RecordWriter(choose_format(tasks, format), tasks, columns)
    check_output_dir(out_dir, kind="plan", force=overwrite, inputs=inputs)
    tmp = make_temp_dir(out_dir, prefix=f".{out_dir.name}.")
    try:
        _write_contents(planner, tasks, test_tasks, tmp, writer, datasets)
        write_marker(tmp, "plan")
        # Checked again: the folder may have changed while the plan was written.
        check_output_dir(out_dir, kind="plan", force=overwrite, inputs=inputs)
        replace_dir(tmp, out_dir, "plan")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "plan.json"


def _write_contents(planner: ReplayPlanner, tasks: list[Task], test_tasks: Sequence[Task] | None,
                    root: Path, writer: RecordWriter, datasets: str | None) -> None:
    n = len(tasks)
    info: dict[str, Any] = {}
    plan = planner.to_dict(stages=False)  # stages are encoded one at a time at the end
    plan["record_format"] = writer.format
    if test_tasks is not None:
        (root / "data").mkdir()
        plan["data"] = {}
        for train, test in zip(tasks, test_tasks):
            stem = safe_name(train.name)
            write_records(root / "data" / f"{stem}.train.jsonl", writer.records(train.examples))
            write_records(root / "data" / f"{stem}.test.jsonl", writer.records(test.examples))
            plan["data"][train.name] = {"train": f"data/{stem}.train.jsonl", "test": f"data/{stem}.test.jsonl",
                                        "n_train": len(train), "n_test": len(test)}
    used: set[str] = set()
    extras: list[dict[str, Any]] = []
    for stage, task in zip(planner.stages, tasks):
        entry: dict[str, Any] = {}
        extras.append(entry)
        folder = stage_dir_name(stage.index, task.name, n)
        if folder in used:  # two names that differ only in unsafe characters
            folder = f"{folder}_{hashlib.sha256(task.name.encode()).hexdigest()[:6]}"
        used.add(folder)
        (root / folder).mkdir()
        mixture = list(task.examples) + list(stage.replay)
        order = _mixture_rng(planner.config.seed, stage.index, task.name).permutation(len(mixture))
        files = {"mixture": writer.records(mixture[i] for i in order), "replay": writer.records(stage.replay)}
        for kind, records in files.items():
            write_records(root / folder / f"{kind}.jsonl", records)
            # An empty file would break a training run that loads it: no entry for an empty replay.
            lf = writer.llamafactory(records) if records else None
            if lf is not None:
                info[dataset_name(folder, replay=kind == "replay")] = {"file_name": f"{folder}/{kind}.jsonl", **lf}
            if datasets is not None and records:
                written = write_dataset(root / folder / kind, records, datasets)
                entry.setdefault("datasets", {})[kind] = str(written.relative_to(root))
        entry.update({"dir": folder, "dataset": dataset_name(folder), "mixture_size": len(mixture),
                      "train_size": len(task)})
    write_json(root / "dataset_info.json", info)
    write_json_streamed(root / "plan.json", plan, "stages",
                        ({**stage.to_dict(), **extra} for stage, extra in zip(planner.stages, extras)))


def _mixture_rng(seed: int, index: int, task: str) -> np.random.Generator:
    digest = hashlib.sha256(f"mixture:{task}".encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed, index, *words]))


