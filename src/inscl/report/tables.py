"""The report's tables, built once and rendered as Markdown (``summary.md``, terminal) or HTML.

Numbers are printed with 4 decimals; with several seeds a cell reads ``mean ± std``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inscl.report.aggregate import StrategySummary, mean_std
from inscl.report.paired import (
    N_RESAMPLES,
    SEED,
    PairComparison,
    method_text,
    metric_rows,
    notes_text,
    task_rows,
)

DECIMALS = 4


@dataclass
class Table:
    """A titled table of already-formatted cells."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""

    def to_markdown(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [f"### {self.title}", "", line(self.header), line(["---"] * len(self.header))]
        out += [line(row) for row in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return f"<h3>{html.escape(self.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def fmt(values: np.ndarray | float | None) -> str:
    """``0.1234`` for one value, ``0.1234 ± 0.0100`` over seeds, ``–`` when missing."""
    if values is None:
        return "–"
    array = np.atleast_1d(np.asarray(values, dtype=float))
    mean, std = mean_std(array)
    if math.isnan(mean):
        return "–"
    if np.sum(~np.isnan(array)) > 1:
        return f"{mean:.{DECIMALS}f} ± {std:.{DECIMALS}f}"
    return f"{mean:.{DECIMALS}f}"


def overview_table(summaries: Sequence[StrategySummary]) -> Table:
    """Final Relative Gain, final average score, BWT and mean forgetting per strategy."""
    rows = []
    for s in summaries:
        forgetting = (np.nanmean(np.stack(list(s.forgetting.values())), axis=0)
                      if s.forgetting else None)
        seeds = ",".join(map(str, sorted(set(s.seeds)))) + (f" × {len(s.orders)} orders" if len(s.orders) > 1 else "")
        rows.append([s.label, seeds, fmt(s.final_rg), fmt(s.avg_score[:, -1]),
                     fmt(s.bwt), fmt(forgetting)])
    return Table("Final results", ["strategy", "seeds", "final RG", "final avg score", "BWT", "mean forgetting"],
                 rows)


def per_stage_table(summaries: Sequence[StrategySummary], key: str) -> Table | None:
    """Relative Gain (``key="relative_gain"``) or average score (``"avg_score"``) per stage."""
    chosen = [(s, s.relative_gain if key == "relative_gain" else s.avg_score) for s in summaries]
    chosen = [(s, v) for s, v in chosen if v is not None]
    if not chosen:
        return None
    n = max(v.shape[1] for _, v in chosen)
    rows = [[s.label] + [fmt(v[:, t]) if t < v.shape[1] else "–" for t in range(n)] for s, v in chosen]
    title = "Relative Gain per stage" if key == "relative_gain" else "Average score per stage"
    return Table(title, ["strategy"] + [f"stage {t + 1}" for t in range(n)], rows)


def final_scores_table(summaries: Sequence[StrategySummary]) -> Table | None:
    """Score on every task after the last stage (last row of ``R``)."""
    if not summaries:
        return None
    order = summaries[0].order
    rows = []
    for s in summaries:
        index = [{t: i for i, t in enumerate(r.order)} for r in s.runs]  # each run's own task order
        rows.append([s.label] + [fmt(np.array([r.R[-1, ix[t]] for r, ix in zip(s.runs, index)]))
                                 if t in index[0] else "–" for t in order])
    return Table("ROUGE-L after the last stage", ["strategy"] + order, rows)


def reference_table(summaries: Sequence[StrategySummary]) -> Table | None:
    """Per run: the score metric, final RG under each reference, and weak-reference warnings."""
    from inscl.runner.metrics import format_reference_warning

    rows, metrics = [], set()
    for s in summaries:
        for r in s.runs:
            # results.json written before evaluation.metric existed were scored with rougeL-first
            metric = str((r.config.get("evaluation") or {}).get("metric") or "rougeL-first")
            metrics.add(metric)
            by_ref = r.metrics.get("final_rg_by_reference") or {}
            warned = r.metrics.get("reference_warnings") or {}
            lines = [format_reference_warning(w, kind) for kind, ws in warned.items() for w in ws or []]
            rows.append([s.label, str(r.seed), metric, str((r.reference or {}).get("kind", "–")),
                         fmt(by_ref.get("expert")), fmt(by_ref.get("diagonal")), "; ".join(lines) or "none"])
    if not rows:
        return None
    note = ("Relative Gain: RG_t = 100/|D_t| Σ_{i∈D_t} R[t][i]/ref_i over the tasks with a positive reference; "
            "a reference below evaluation.min_reference is flagged, its ratio is unstable.")
    if len(metrics) > 1:
        note += " The runs use different score metrics: their numbers are not comparable."
    return Table("Score metric and Relative Gain references",
                 ["strategy", "seed", "metric", "headline reference", "final RG (expert)", "final RG (diagonal)",
                  "reference warnings"], rows, note)


def summary_tables(summaries: Sequence[StrategySummary]) -> list[Table]:
    tables = [overview_table(summaries), per_stage_table(summaries, "relative_gain"),
              per_stage_table(summaries, "avg_score"), final_scores_table(summaries), reference_table(summaries)]
    return [t for t in tables if t is not None]


def paired_tables(comparisons: Sequence[PairComparison], n_resamples: int = N_RESAMPLES,
                  seed: int = SEED) -> list[Table]:
    """Paired differences per strategy pair and metric, then per task (final score), with notes."""
    if not comparisons:
        return []
    notes = " ".join([method_text(n_resamples, seed=seed)] + [f"Note: {n}." for n in notes_text(comparisons)])
    return [Table("Paired differences", *metric_rows(comparisons), note=notes),
            Table("Paired differences per task (score after the last stage)", *task_rows(comparisons))]


def markdown_summary(summaries: Sequence[StrategySummary], title: str = "inscl report",
                     extra: Sequence[Table] = ()) -> str:
    """The ``summary.md`` document: every summary table (then ``extra`` tables) in Markdown."""
    return f"# {title}\n\n" + "\n".join(t.to_markdown() for t in [*summary_tables(summaries), *extra])
