"""Continual fine-tuning runner: config, models, stage training, evaluation, metrics.

``run_experiment(config)`` runs every (strategy, seed) of an :class:`ExperimentConfig`
and returns the ``results.json`` documents. Heavy modules (torch, transformers) load
only when a run starts, so importing the config stays cheap.
"""

from __future__ import annotations

from typing import Any

from inscl.runner.config import ExperimentConfig

__all__ = ["ExperimentConfig", "run_experiment"]


def run_experiment(config: ExperimentConfig, *, progress: bool | None = None) -> list[dict[str, Any]]:
    """Runs (or resumes) the experiment; returns one results.json dict per (strategy, seed).

    ``progress``: show tqdm bars (None: only on a TTY outside CI).
    """
    from inscl.runner.experiment import run_experiment as _run

    return _run(config, progress=progress)
