"""``build_report``: results.json files in, one HTML page + PNG figures + ``summary.md`` out.

Everything is read, validated and rendered in memory first; files are written only once
nothing can fail any more, each atomically, so bad input leaves no partial report.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.figure import Figure

from inscl.data.jsonio import atomic_write_bytes
from inscl.report import figures as F
from inscl.report.aggregate import StrategySummary, summarize
from inscl.report.html import Section, figure_html, note_html, pre_html, render_page, tables_html
from inscl.report.paired import MIN_PAIRS, PairComparison, PairedRun, paired_comparisons, paired_document
from inscl.report.results import RunResult, load_results
from inscl.report.tables import Table, markdown_summary, paired_tables, summary_tables

HTML_FILE = "report.html"
SUMMARY_FILE = "summary.md"
PAIRED_FILE = "paired.json"
FIGURES_DIR = "figures"
TOP_INSTRUCTIONS = 3


@dataclass
class ReportFiles:
    """Paths written by :func:`build_report`."""

    html: Path
    summary: Path
    figures: dict[str, Path] = field(default_factory=dict)
    paired: Path | None = None


@dataclass
class _FigureSpec:
    name: str
    title: str
    caption: str
    build: Callable[[Sequence[StrategySummary]], Figure | None]
    missing: str


_FIGURES = [
    _FigureSpec("task_distance", "Task distances",
                "Wasserstein-1 distance between the tasks' instruction distributions (cosine ground cost), "
                "from the plan's per-stage distances; lower triangle of the symmetric matrix.",
                F.distance_heatmap, "No plan with task distances (strategies without dynamic replay only)."),
    _FigureSpec("replay_quotas", "Replay quotas",
                "Examples replayed at each stage, stacked by the task they come from.",
                F.quota_bars, "No plan with replay quotas (e.g. only strategy 'none')."),
    _FigureSpec("scores", "Scores R[t][i]",
                "ROUGE-L on task i (column) after training stage t (row).",
                F.score_heatmaps, "No scores."),
    _FigureSpec("stage_curves", "Relative Gain and average score per stage",
                "One line per strategy; with several seeds, the line is the mean and the band ±1 std.",
                F.stage_curves, "No per-stage metrics."),
    _FigureSpec("forgetting", "Forgetting per task",
                "Best earlier score minus the final score, per task (mean over seeds, error bar = std).",
                F.forgetting_bars, "The runs hold no forgetting metrics."),
    _FigureSpec("forgetting_analysis", "Forgetting analysis",
                "Forgetting cases split into instruction-related and instruction-unrelated.",
                F.forgetting_analysis_bars, "The runs hold no forgetting analysis."),
    _FigureSpec("insinfo", "InsInfo",
                "InsInfo score of every distinct instruction at the last stage that computed them.",
                F.insinfo_distribution, "No plan with InsInfo scores (strategies without InsInfo only)."),
]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def top_instructions_table(summaries: Sequence[StrategySummary], k: int = TOP_INSTRUCTIONS) -> Table | None:
    """The ``k`` highest-InsInfo instructions of each task, at the last stage with scores."""
    found = F.plan_of(summaries, "insinfo")
    if found is None:
        return None
    summary, plan = found
    stage, scores = F.last_insinfo(plan)  # type: ignore[misc]
    rows = []
    for task in [t for t in summary.order if t in scores] + [t for t in scores if t not in summary.order]:
        ranked = sorted(scores[task].items(), key=lambda kv: (-float(kv[1]), kv[0]))[:k]
        rows += [[task if j == 0 else "", str(j + 1), instruction, f"{float(value):.4f}"]
                 for j, (instruction, value) in enumerate(ranked)]
    return Table(f"Top {k} instructions per task by InsInfo (stage {stage}, {summary.label})",
                 ["task", "rank", "instruction", "InsInfo"], rows)


def _config_section(results: Sequence[RunResult]) -> str:
    first = results[0]
    parts = [f"<p>From <code>{html.escape(str(first.path))}</code>.</p>" if first.config else note_html("No configuration stored."),
             pre_html(first.config) if first.config else ""]
    rule = (first.metrics.get("forgetting_analysis") or {}).get("rule")
    if rule:
        parts.append(f"<p>Forgetting analysis rule: {html.escape(str(rule))}</p>")
    reference = first.reference
    if reference:
        parts.append("<h3>Reference scores (denominator of Relative Gain)</h3>" + pre_html(reference))
    timing = {r.label + f" seed {r.seed}": r.timing for r in results if r.timing}
    if timing:
        parts.append("<h3>Timing</h3>" + pre_html(timing))
    return "".join(parts)


def report_comparisons(results: Sequence[RunResult], sources: Sequence[str] = ()) -> list[PairComparison]:
    """Paired differences between the report's strategies (labels in the summary's order)."""
    def group(r: RunResult) -> str:  # the run directory a result came from (for notes only)
        return next((s for s in sources if r.path.is_relative_to(s)), str(r.path.parent))

    labels = [s.label for s in summarize(results)]
    return paired_comparisons([PairedRun.from_result(r, group=group(r)) for r in results], labels=labels)


def _paired_section(comparisons: Sequence[PairComparison], pngs: dict[str, bytes]) -> Section:
    fig = F.paired_intervals(comparisons)
    if fig is None:
        body = note_html("Only one strategy (or no runs sharing a task order and seed): nothing to pair.")
    else:
        pngs["paired_differences"] = _png(fig)
        body = figure_html(pngs["paired_differences"], "Paired differences",
                           "Difference between two strategies over runs with the same task order and seed: the "
                           "mean (dot) and its 95% percentile bootstrap interval (bar); filled where the interval "
                           f"excludes 0 and rests on at least {MIN_PAIRS} pairs. n = number of pairs.")
    return Section("paired", "Paired differences", body + tables_html(paired_tables(comparisons)))


def render_report(results: Sequence[RunResult], title: str = "inscl report", sources: Sequence[str] = (),
                  comparisons: Sequence[PairComparison] | None = None) -> tuple[str, str, dict[str, bytes]]:
    """Renders ``(html, summary_markdown, {figure name: png bytes})`` in memory.

    ``comparisons``: the paired differences (default :func:`report_comparisons`).
    """
    summaries = summarize(results)
    tables = summary_tables(summaries)
    if comparisons is None:
        comparisons = report_comparisons(results, sources)
    pngs: dict[str, bytes] = {}
    sections = [Section("summary", "Summary", tables_html(tables)), _paired_section(comparisons, pngs)]
    for spec in _FIGURES:
        fig = spec.build(summaries)
        if fig is None:
            body = note_html(spec.missing)
        else:
            pngs[spec.name] = _png(fig)
            body = figure_html(pngs[spec.name], spec.title, spec.caption)
        if spec.name == "insinfo":
            top = top_instructions_table(summaries)
            body += top.to_html() if top else ""
        sections.append(Section(spec.name.replace("_", "-"), spec.title, body))
    sections.append(Section("configuration", "Run configuration", _config_section(results)))
    runs = ", ".join(f"{s.label} (seeds {','.join(map(str, s.seeds))})" for s in summaries)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"{len(results)} run(s): {runs}. Tasks: {' → '.join(summaries[0].order)}. Generated {stamp}."
    if sources:
        meta += " Sources: " + ", ".join(sources) + "."
    return render_page(title, meta, sections), markdown_summary(summaries, title, paired_tables(comparisons)), pngs


def build_report(run_dirs: Sequence[str | Path], out_dir: str | Path, title: str = "inscl report") -> ReportFiles:
    """Reads every ``results.json`` under ``run_dirs`` and writes the report into ``out_dir``.

    Writes ``report.html`` (self-contained), ``summary.md``, ``paired.json`` (the paired
    differences, :func:`inscl.report.paired.paired_document`) and ``figures/<name>.png``.
    Raises :class:`~inscl.errors.InputError` (before writing anything) for unreadable or
    malformed results.
    """
    results = load_results(run_dirs)
    sources = [str(d) for d in run_dirs]
    comparisons = report_comparisons(results, sources)
    page, summary, pngs = render_report(results, title, sources, comparisons)
    paired = json.dumps(paired_document(comparisons), indent=2, allow_nan=False) + "\n"
    out = Path(out_dir)
    files = ReportFiles(html=out / HTML_FILE, summary=out / SUMMARY_FILE, paired=out / PAIRED_FILE)
    for name, data in pngs.items():
        path = out / FIGURES_DIR / f"{name}.png"
        atomic_write_bytes(path, data)
        files.figures[name] = path
    atomic_write_bytes(files.summary, summary.encode("utf-8"))
    atomic_write_bytes(files.paired, paired.encode("utf-8"))
    atomic_write_bytes(files.html, page.encode("utf-8"))  # last: its presence means the report is complete
    return files
