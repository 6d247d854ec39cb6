"""Reading ``results.json`` files (the runner's per strategy/seed output) into :class:`RunResult`.

Only the fields the report needs are required (``strategy``, ``seed``, ``order``, ``R``);
``metrics``, ``plan``, ``reference``, ``config`` and ``timing`` are optional, so a run
without a plan (strategy ``none``) or an older file still renders. Every problem is an
:class:`~inscl.errors.InputError` naming the file and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inscl.data.jsonio import read_json
from inscl.errors import InputError

RESULTS_FILE = "results.json"


@dataclass
class RunResult:
    """One (strategy, seed) run as read from its ``results.json``.

    ``R`` is a ``(T, T)`` float array with ``nan`` where a task was not yet seen
    (``R[t, i]`` = score after stage ``t`` on task ``i``, 0-based). ``label`` names the
    strategy in figures; it differs from ``strategy`` only when several run directories
    hold the same strategy.
    """

    path: Path
    strategy: str
    seed: int
    order: list[str]
    R: np.ndarray
    budget: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.strategy


def find_results(run_dirs: Iterable[str | Path]) -> list[Path]:
    """All ``results.json`` files under the given directories (or the files themselves), sorted.

    Raises :class:`InputError` for a missing path or a directory without any results.
    """
    found: list[Path] = []
    for entry in run_dirs:
        path = Path(entry)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            # Skip the runner's in-progress temp dirs: only finished runs are reported.
            hits = sorted(p for p in path.rglob(RESULTS_FILE) if not any(part.startswith(".") for part in
                                                                         p.relative_to(path).parts))
            if not hits:
                raise InputError(f"no {RESULTS_FILE} found under this directory", path=path)
            found.extend(hits)
        else:
            raise InputError("no such file or directory", path=path)
    return list(dict.fromkeys(found))


def _number(value: Any, path: Path, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"expected a number or null, got {type(value).__name__}", path=path, field=where)
    return float(value)


def _score_matrix(raw: Any, n_tasks: int, path: Path) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) > n_tasks:
        raise InputError(f"expected a list of at most {n_tasks} rows (one per stage)", path=path, field="R")
    matrix = np.full((n_tasks, n_tasks), np.nan)
    for t, row in enumerate(raw):
        if not isinstance(row, list) or len(row) > n_tasks:
            raise InputError(f"expected a list of at most {n_tasks} scores", path=path, field=f"R[{t}]")
        for i, value in enumerate(row):
            matrix[t, i] = _number(value, path, f"R[{t}][{i}]")
    return matrix


def _optional_dict(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any] | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, dict):
        raise InputError(f"expected an object, got {type(value).__name__}", path=path, field=key)
    return value


def parse_result(doc: Any, path: str | Path) -> RunResult:
    """Validates one ``results.json`` document (see docs/architecture.md) into a :class:`RunResult`."""
    path = Path(path)
    if not isinstance(doc, dict):
        raise InputError(f"expected a JSON object, got {type(doc).__name__}", path=path)
    for key in ("strategy", "seed", "order", "R"):
        if key not in doc:
            raise InputError("missing required field", path=path, field=key)
    strategy, seed, order = doc["strategy"], doc["seed"], doc["order"]
    if not isinstance(strategy, str) or not strategy:
        raise InputError("expected a non-empty string", path=path, field="strategy")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError("expected an integer", path=path, field="seed")
    if not isinstance(order, list) or not order or not all(isinstance(t, str) for t in order):
        raise InputError("expected a non-empty list of task names", path=path, field="order")
    budget = doc.get("budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
        raise InputError("expected an integer or null", path=path, field="budget")
    metrics = _optional_dict(doc, "metrics", path) or {}
    for key in ("avg_score", "relative_gain"):
        if key in metrics and metrics[key] is not None and not isinstance(metrics[key], list):
            raise InputError("expected a list (one value per stage)", path=path, field=f"metrics.{key}")
    return RunResult(
        path=path, strategy=strategy, seed=seed, order=list(order),
        R=_score_matrix(doc["R"], len(order), path), budget=budget, metrics=metrics,
        plan=_optional_dict(doc, "plan", path), reference=_optional_dict(doc, "reference", path),
        config=_optional_dict(doc, "config", path) or {}, timing=_optional_dict(doc, "timing", path) or {},
    )


def load_results(run_dirs: Sequence[str | Path]) -> list[RunResult]:
    """Reads and validates every ``results.json`` under ``run_dirs``.

    When the same (strategy, order, seed) appears in several run directories, each result's
    label gets its directory name appended so the figures keep them apart.
    """
    results = [parse_result(read_json(p), p) for p in find_results(run_dirs)]
    seen: dict[tuple[str, tuple[str, ...], int], int] = {}
    for r in results:
        key = (r.strategy, tuple(r.order), r.seed)
        seen[key] = seen.get(key, 0) + 1
    if any(n > 1 for n in seen.values()):
        for r in results:
            r.label = f"{r.strategy} ({_run_name(r.path)})"
    return results


def _run_name(results_path: Path) -> str:
    # OUT/<strategy>/seed<k>/results.json -> OUT's name
    parents = results_path.parents
    return parents[2].name if len(parents) > 2 else results_path.parent.name
