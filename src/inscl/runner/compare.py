"""Comparing strategies across run directories: RG per stage and final, mean and std over seeds,
and the paired differences between strategies (:mod:`inscl.report.paired`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inscl.data.jsonio import read_json
from inscl.errors import InputError
from inscl.report.paired import (
    N_RESAMPLES,
    SEED,
    PairComparison,
    PairedRun,
    method_text,
    metric_rows,
    notes_text,
    task_rows,
)
from inscl.runner.metrics import format_reference_warning, mean_std


def load_results(run_dirs: Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """``(run label, results.json document)`` for every ``<strategy>/seed<k>/results.json``."""
    out = []
    dirs = [Path(d) for d in run_dirs]
    names = [d.name for d in dirs]
    for d in dirs:
        if not d.is_dir():
            raise InputError("not a run directory", path=d)
        # any depth (a layout may put the task order in the path); not the runner's hidden temp dirs
        files = sorted(f for f in d.rglob("results.json")
                       if not any(part.startswith(".") for part in f.relative_to(d).parts))
        if not files:
            raise InputError("no <strategy>/<order>/seed<k>/results.json found (has the run finished a strategy?)",
                             path=d)
        for f in files:
            doc = read_json(f)
            for key in ("strategy", "seed", "metrics", "order"):
                if key not in doc:
                    raise InputError("not a results.json document", path=f, field=key)
            out.append((d.name if names.count(d.name) == 1 else str(d), doc))
    return out


def comparison_rows(results: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (run, strategy): mean and std over seeds of RG per stage, final RG,
    final average ROUGE-L and BWT. The run label is kept only when several runs are given."""
    labels = {label for label, _ in results}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for label, doc in results:
        groups.setdefault((label, doc["strategy"]), []).append(doc)
    rows = []
    for (label, strategy), docs in groups.items():
        stages = max(len(d["metrics"]["relative_gain"]) for d in docs)
        rg = [mean_std([d["metrics"]["relative_gain"][t] if t < len(d["metrics"]["relative_gain"]) else None
                        for d in docs]) for t in range(stages)]
        rows.append({
            "run": label if len(labels) > 1 else None, "strategy": strategy,
            "seeds": sorted(d["seed"] for d in docs),
            "reference": sorted({d["reference"]["kind"] for d in docs}),
            "rg_mean": [m for m, _ in rg], "rg_std": [s for _, s in rg],
            "final_rg": mean_std([d["metrics"]["final_rg"] for d in docs]),
            "final_avg_score": mean_std([d["metrics"]["avg_score"][-1] for d in docs]),
            "bwt": mean_std([d["metrics"]["bwt"] for d in docs]),
            # Older results.json files have no "metric": they were scored with rougeL-first.
            "metric": sorted({(d.get("metric") or {}).get("name", "rougeL-first") for d in docs}),
            "reference_warnings": _warnings(docs),
        })
    return rows


def _warnings(docs: Sequence[dict[str, Any]]) -> list[str]:
    """Distinct one-line warnings about weak RG references (the headline kind) in ``docs``."""
    lines: dict[str, None] = {}
    for d in docs:
        kind = d.get("reference", {}).get("kind", "")
        for w in (d["metrics"].get("reference_warnings") or {}).get(kind, []):
            lines[f"seed {d['seed']}: " + format_reference_warning(w, kind)] = None
    return list(lines)


def _notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    metrics = sorted({m for r in rows for m in r.get("metric", [])})
    notes = [f"score metric: {', '.join(metrics)}" + (" (runs differ: not comparable)" if len(metrics) > 1 else "")]
    for r in rows:
        name = r["strategy"] if r["run"] is None else f"{r['run']}:{r['strategy']}"
        notes += [f"warning: {name} {w}" for w in r.get("reference_warnings", [])]
    return notes


def _fmt(ms: tuple[float | None, float | None], digits: int = 1) -> str:
    m, s = ms
    if m is None:
        return "n/a"
    return f"{m:.{digits}f}" if not s else f"{m:.{digits}f} ± {s:.{digits}f}"


def _table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    stages = max((len(r["rg_mean"]) for r in rows), default=0)
    header = ["strategy", "seeds"] + [f"RG@{t + 1}" for t in range(stages)] + ["final RG", "avg ROUGE-L", "BWT"]
    body = []
    for r in rows:
        name = r["strategy"] if r["run"] is None else f"{r['run']}:{r['strategy']}"
        rg = [_fmt((r["rg_mean"][t], r["rg_std"][t])) if t < len(r["rg_mean"]) else "" for t in range(stages)]
        body.append([name, str(len(r["seeds"]))] + rg + [_fmt(r["final_rg"]), _fmt(r["final_avg_score"], 3),
                                                         _fmt(r["bwt"], 3)])
    return header, body


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    header, body = _table(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    refs = sorted({k for r in rows for k in r["reference"]})
    notes = "".join(f"\n{n}  " for n in _notes(rows))
    return "\n".join(lines) + f"\n\nRG: Relative Gain (%), reference: {', '.join(refs)}; mean ± std over seeds.{notes}\n"


def format_text(rows: Sequence[dict[str, Any]]) -> str:
    header, body = _table(rows)
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body] + _notes(rows)) + "\n"


JSON_FORMAT_VERSION = 2  # 1: a bare list of rows; 2: {"format_version", "rows", "paired"}


def format_json(rows: Sequence[dict[str, Any]], paired: dict[str, Any] | None = None) -> str:
    """``{"format_version": 2, "rows": [...], "paired": paired.json document or null}``."""
    doc = {"format_version": JSON_FORMAT_VERSION, "rows": list(rows), "paired": paired}
    return json.dumps(doc, indent=2) + "\n"


# ---- paired differences ---------------------------------------------------------------------

def paired_runs(results: Sequence[tuple[str, dict[str, Any]]]) -> list[PairedRun]:
    """The runs as :class:`PairedRun`, labelled like the rows (``run:strategy`` with several runs)."""
    several = len({label for label, _ in results}) > 1
    return [PairedRun.from_document(doc, label=f"{label}:{doc['strategy']}" if several else doc["strategy"],
                                    group=label) for label, doc in results]


def _align(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body]) + "\n"


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body]) + "\n"


def format_paired(comparisons: Sequence[PairComparison], *, markdown: bool = False, per_task: bool = False,
                  n_resamples: int = N_RESAMPLES, seed: int = SEED) -> str:
    """The paired table (one row per strategy pair and metric), optional per-task rows, notes."""
    if not comparisons:
        return "Paired differences: fewer than two strategies, nothing to compare.\n"
    render = _markdown if markdown else _align
    out = ["Paired differences by (task order, seed):", "", render(*metric_rows(comparisons))]
    if per_task:
        out += ["Final score per task (R[T][i]):", "", render(*task_rows(comparisons))]
    out.append(method_text(n_resamples, seed=seed))
    out += [f"Note: {n}" for n in notes_text(comparisons)]
    return "\n".join(out) + "\n"
