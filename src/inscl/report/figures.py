"""The report's figures: one function per figure, each returning a matplotlib ``Figure`` or ``None``.

``None`` means the runs lack what the figure needs (e.g. no plan with distances when only
``none`` was run); the report then leaves the section out with a note. Figures are built
on the Agg canvas directly (no pyplot global state), so building them is thread-safe and
never needs a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from inscl.report.aggregate import StrategySummary

_DPI = 110


def _figure(width: float, height: float, ncols: int = 1, sharey: bool = False) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False, sharey=sharey)[0]
    return fig, list(axes)


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _task_colors(order: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(order) <= 10 else "tab20"]
    return {task: cmap(i % cmap.N) for i, task in enumerate(order)}


def plan_of(summaries: Sequence[StrategySummary], need: str) -> tuple[StrategySummary, dict] | None:
    """The first plan holding a non-empty ``need`` field in some stage; ``inscl`` is preferred."""
    ranked = sorted(summaries, key=lambda s: s.strategy != "inscl")
    for summary in ranked:
        plan = summary.runs[0].plan
        if plan and any(stage.get(need) for stage in plan.get("stages", []) if isinstance(stage, dict)):
            return summary, plan
    return None


def distance_matrix(plan: dict, order: Sequence[str]) -> np.ndarray:
    """Symmetric task-distance matrix from the plan's per-stage distances (``nan`` where unknown)."""
    index = {task: i for i, task in enumerate(order)}
    matrix = np.full((len(order), len(order)), np.nan)
    np.fill_diagonal(matrix, 0.0)
    for stage in plan.get("stages", []):
        t = index.get(stage.get("task"))
        for other, value in (stage.get("distances") or {}).items():
            i = index.get(other)
            if t is not None and i is not None and isinstance(value, (int, float)):
                matrix[t, i] = matrix[i, t] = float(value)
    return matrix


def _annotate(ax: Any, matrix: np.ndarray, fmt: str = "{:.2f}") -> None:
    finite = matrix[np.isfinite(matrix)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (r, c), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            ax.text(c, r, fmt.format(value), ha="center", va="center", fontsize=7,
                    color="white" if value < middle else "black")


def _matrix_axes(ax: Any, order: Sequence[str], ylabel: str, xlabel: str) -> None:
    ax.set_xticks(range(len(order)), [_short(t) for t in order], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(order)), [_short(t) for t in order], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def distance_heatmap(summaries: Sequence[StrategySummary]) -> Figure | None:
    """Wasserstein distance between tasks (lower triangle of the symmetrised matrix)."""
    found = plan_of(summaries, "distances")
    if found is None:
        return None
    summary, plan = found
    order = summary.order
    matrix = distance_matrix(plan, order)
    lower = np.where(np.tril(np.ones_like(matrix, dtype=bool)), matrix, np.nan)
    size = 2.2 + 0.55 * len(order)
    fig, (ax,) = _figure(size + 1.2, size)
    image = ax.imshow(lower, cmap="viridis")
    _annotate(ax, lower)
    _matrix_axes(ax, order, "task", "task")
    ax.set_title(f"Task distance W1 (plan of {summary.label})", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Wasserstein-1 (cosine cost)")
    return fig


def quota_bars(summaries: Sequence[StrategySummary]) -> Figure | None:
    """Replay quotas per stage, stacked by source task; one panel per strategy with a plan."""
    panels = [s for s in summaries if s.runs[0].plan and any(
        sum((st.get("quotas") or {}).values()) > 0 for st in s.runs[0].plan.get("stages", [])
        if isinstance(st, dict))]  # strategy none plans only zero quotas: nothing to draw
    if not panels:
        return None
    order = panels[0].order
    colors = _task_colors(order)
    fig, axes = _figure(min(3.2 + 3.0 * len(panels), 16), 3.6, ncols=len(panels), sharey=True)
    for ax, summary in zip(axes, panels):
        stages = summary.runs[0].plan["stages"]
        x = np.arange(len(stages))
        bottom = np.zeros(len(stages))
        for task in summary.order:
            heights = np.array([float((st.get("quotas") or {}).get(task, 0)) for st in stages])
            if heights.any():
                ax.bar(x, heights, bottom=bottom, color=colors.get(task), label=_short(task, 18))
                bottom += heights
        ax.set_xticks(x, [f"{i + 1}" for i in x], fontsize=8)
        ax.set_xlabel("stage")
        ax.set_title(summary.label, fontsize=9)
    axes[0].set_ylabel("replayed examples")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", fontsize=7, title="from task", title_fontsize=7)
    return fig


def score_heatmaps(summaries: Sequence[StrategySummary]) -> Figure | None:
    """``R[t][i]`` (ROUGE-L after stage t on task i, mean over seeds), one panel per strategy."""
    if not summaries:
        return None
    n = len(summaries)
    size = 2.0 + 0.45 * len(summaries[0].order)
    fig, axes = _figure(min(size * n + 1.0, 18), size + 0.4, ncols=n)
    finite = np.concatenate([s.R_mean[np.isfinite(s.R_mean)] for s in summaries] + [np.zeros(1)])
    vmax = max(float(finite.max()), 1e-9)
    image = None
    for ax, summary in zip(axes, summaries):
        matrix = summary.R_mean
        image = ax.imshow(matrix, cmap="magma", vmin=0.0, vmax=vmax)
        _annotate(ax, matrix)
        _matrix_axes(ax, summary.order, "after stage (task trained)", "evaluated task")
        seeds = sum(r.order == summary.order for r in summary.runs)  # R_mean averages one order
        ax.set_title(summary.label + (f" (mean of {seeds} seeds)" if seeds > 1 else ""), fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8, label="ROUGE-L")
    return fig


def _band(ax: Any, x: np.ndarray, values: np.ndarray, label: str, color: Any) -> None:
    """A line at the mean over seeds (rows) and, with several seeds, a ±1 std band."""
    from inscl.report.aggregate import mean_std

    stats = np.array([mean_std(values[:, k]) for k in range(values.shape[1])])
    mean, std = stats[:, 0], stats[:, 1]
    ax.plot(x, mean, marker="o", label=label, color=color)
    if values.shape[0] > 1:
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=color)


def stage_curves(summaries: Sequence[StrategySummary]) -> Figure | None:
    """Relative Gain and average score per stage: a line per strategy, a ±1 std band over seeds."""
    if not summaries:
        return None
    with_rg = [s for s in summaries if s.relative_gain is not None]
    panels = (["relative_gain"] if with_rg else []) + ["avg_score"]
    fig, axes = _figure(4.4 * len(panels) + 1.5, 3.5, ncols=len(panels))
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    for ax, key in zip(axes, panels):
        for k, summary in enumerate(summaries):
            values = summary.relative_gain if key == "relative_gain" else summary.avg_score
            if values is None:
                continue
            _band(ax, np.arange(1, values.shape[1] + 1), values, summary.label, cmap(k % 10))
        ax.set_xlabel("stage")
        ax.set_ylabel("Relative Gain" if key == "relative_gain" else "average ROUGE-L")
        ax.set_title("Relative Gain per stage" if key == "relative_gain" else "Average score per stage",
                     fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="best")
    return fig


def _grouped_bars(ax: Any, groups: Sequence[str], series: list[tuple[str, list[tuple[float, float]]]],
                  rotation: int = 30) -> None:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for k, (label, stats) in enumerate(series):
        means = np.array([m for m, _ in stats])
        errs = np.array([s for _, s in stats])
        ax.bar(x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(means), width,
               yerr=np.nan_to_num(errs) if np.any(errs > 0) else None, label=label, color=cmap(k % 10),
               capsize=2)
    ax.set_xticks(x, [_short(g, 24) for g in groups], rotation=rotation, ha="right" if rotation else "center",
                  fontsize=7)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)


def _stat(values: np.ndarray | None) -> tuple[float, float]:
    from inscl.report.aggregate import mean_std

    if values is None:
        return float("nan"), 0.0
    mean, std = mean_std(values)
    return mean, (0.0 if np.isnan(std) else std)


def forgetting_bars(summaries: Sequence[StrategySummary]) -> Figure | None:
    """Forgetting per task (best earlier score minus final score), grouped by strategy."""
    with_data = [s for s in summaries if s.forgetting]
    if not with_data:
        return None
    tasks = [t for t in with_data[0].order if any(t in s.forgetting for s in with_data)]
    fig, (ax,) = _figure(max(4.5, 0.8 * len(tasks) * max(1, len(with_data) / 2) + 2.5), 3.5)
    _grouped_bars(ax, tasks, [(s.label, [_stat(s.forgetting.get(t)) for t in tasks]) for s in with_data])
    ax.set_ylabel("forgetting (ROUGE-L)")
    ax.set_title("Forgetting per task", fontsize=9)
    ax.legend(fontsize=7)
    return fig


ANALYSIS_KINDS = {"instruction_related": "instruction-related", "instruction_unrelated": "instruction-unrelated"}


def forgetting_analysis_bars(summaries: Sequence[StrategySummary]) -> Figure | None:
    """Forgetting cases split into instruction-related and instruction-unrelated, per strategy."""
    with_data = [s for s in summaries if s.forgetting_analysis]
    if not with_data:
        return None
    kinds = list(ANALYSIS_KINDS)
    fig, (ax,) = _figure(4.8, 3.4)
    _grouped_bars(ax, [ANALYSIS_KINDS[k] for k in kinds],
                  [(s.label, [_stat(s.forgetting_analysis.get(k)) for k in kinds]) for s in with_data], rotation=0)
    ax.set_ylabel("forgetting cases")
    ax.set_title("Forgetting analysis", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def last_insinfo(plan: dict) -> tuple[int, dict[str, dict[str, float]]] | None:
    """The last stage (1-based) whose plan holds InsInfo scores, with those scores."""
    stages = plan.get("stages", [])
    for index in range(len(stages) - 1, -1, -1):
        scores = stages[index].get("insinfo") if isinstance(stages[index], dict) else None
        if scores:
            return index + 1, scores
    return None


def insinfo_distribution(summaries: Sequence[StrategySummary]) -> Figure | None:
    """InsInfo scores of every instruction at the last stage that computed them, per task."""
    found = plan_of(summaries, "insinfo")
    if found is None:
        return None
    summary, plan = found
    stage, scores = last_insinfo(plan)  # type: ignore[misc]
    tasks = [t for t in summary.order if scores.get(t)] + [t for t in scores if t not in summary.order]
    data = [np.array([float(v) for v in scores[t].values()]) for t in tasks]
    fig, (ax,) = _figure(max(4.5, 0.7 * len(tasks) + 2.5), 3.5)
    colors = _task_colors(tasks)
    ax.boxplot(data, showfliers=False)
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    for k, (task, values) in enumerate(zip(tasks, data), start=1):
        ax.scatter(k + rng.uniform(-0.15, 0.15, len(values)), values, s=12, color=colors[task], zorder=3)
    ax.set_xticks(range(1, len(tasks) + 1), [_short(t, 18) for t in tasks], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("InsInfo")
    ax.set_title(f"InsInfo per instruction at stage {stage} ({summary.label})", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return fig


def paired_intervals(comparisons: Sequence[Any]) -> Figure | None:
    """Paired differences (``b - a``) with their bootstrap intervals: one panel per metric, one
    row per strategy pair; filled markers where the interval excludes 0 and rests on at least
    :data:`~inscl.report.paired.MIN_PAIRS` pairs (hollow grey otherwise)."""
    from inscl.report.paired import METRIC_NAMES, MIN_PAIRS

    shown = [c for c in comparisons if c.n_pairs > 0]
    if not shown:
        return None
    metrics = list(METRIC_NAMES)
    fig, axes = _figure(3.6 * len(metrics) + 1.6, 1.2 + 0.42 * len(shown), ncols=len(metrics), sharey=True)
    y = np.arange(len(shown))[::-1]  # the first comparison on top
    for ax, metric in zip(axes, metrics):
        for row, c in zip(y, shown):
            s = c.metrics[metric]
            if not np.isfinite(s.mean):
                continue
            solid = s.excludes_zero and s.n >= MIN_PAIRS
            color = "tab:blue" if solid else "tab:gray"
            if np.isfinite(s.ci_low):
                ax.errorbar(s.mean, row, xerr=[[s.mean - s.ci_low], [s.ci_high - s.mean]], fmt="none",
                            ecolor=color, capsize=3, linewidth=1.4)
            ax.plot(s.mean, row, "o", color=color, markerfacecolor=color if solid else "white")
        ax.axvline(0, color="black", linewidth=0.7)
        ax.set_title(METRIC_NAMES[metric] + (" (RG points)" if metric == "final_rg" else " (ROUGE-L)"), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    axes[0].set_yticks(y, [f"{c.name} (n={c.n_pairs})" for c in shown], fontsize=8)
    axes[0].set_ylim(-0.6, len(shown) - 0.4)
    return fig
