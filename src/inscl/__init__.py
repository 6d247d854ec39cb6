"""inscl: continual instruction tuning with data-efficient replay (InsCL, Wang et al., NAACL 2024).

The stable public API lives here (``from inscl import ReplayPlanner, load_tasks``); the
subpackages are ``inscl.data`` (task model, format readers, SuperNI, export),
``inscl.replay`` (distance, quotas, tags, InsInfo, selectors, strategies, planner),
``inscl.encoders``, ``inscl.taggers``, ``inscl.runner`` and ``inscl.report``.
"""

from inscl.data.task import Example, Task, split_task
from inscl.errors import ConfigError, InputError

__version__ = "0.2.0"

# Everything below is imported on first use: the planner loads scikit-learn and POT, the
# encoders torch, which commands like `inscl report` never need.
_LAZY_EXPORTS = {
    "load_tasks": "inscl.data.loading", "load_task_dir": "inscl.data.loading",
    "load_superni_dir": "inscl.data.loading", "load_alpaca_file": "inscl.data.formats.alpaca",
    "build_superni_stream": "inscl.data.superni", "ORDERS": "inscl.data.superni",
    "PlannerConfig": "inscl.replay.planner", "ReplayPlanner": "inscl.replay.planner",
    "StagePlan": "inscl.replay.planner", "plan_stream": "inscl.replay.planner",
    "write_plan": "inscl.data.export", "PrecomputedEncoder": "inscl.data.precomputed",
    "load_embeddings": "inscl.data.precomputed", "load_tags": "inscl.data.precomputed",
    "STRATEGIES": "inscl.replay.strategies", "Strategy": "inscl.replay.strategies",
    "wasserstein": "inscl.replay.distance", "dynamic_quotas": "inscl.replay.quotas",
    "fixed_quotas": "inscl.replay.quotas", "insinfo_scores": "inscl.replay.insinfo",
    "merge_tags": "inscl.replay.tags", "make_encoder": "inscl.encoders", "make_tagger": "inscl.taggers",
}

__all__ = [
    "ORDERS",
    "STRATEGIES",
    "ConfigError",
    "Example",
    "InputError",
    "PlannerConfig",
    "PrecomputedEncoder",
    "ReplayPlanner",
    "StagePlan",
    "Strategy",
    "Task",
    "__version__",
    "build_superni_stream",
    "dynamic_quotas",
    "fixed_quotas",
    "insinfo_scores",
    "load_alpaca_file",
    "load_embeddings",
    "load_superni_dir",
    "load_tags",
    "load_task_dir",
    "load_tasks",
    "make_encoder",
    "make_tagger",
    "merge_tags",
    "plan_stream",
    "split_task",
    "wasserstein",
    "write_plan",
]


def __getattr__(name: str) -> object:
    if name in _LAZY_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'inscl' has no attribute {name!r}")
