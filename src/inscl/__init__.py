"""inscl: continual instruction tuning with data-efficient replay (InsCL, Wang et al., NAACL 2024)."""

from inscl.errors import ConfigError, InputError
from inscl.task import Example, Task, split_task

__version__ = "0.1.0"

__all__ = ["ConfigError", "Example", "InputError", "Task", "__version__", "split_task"]

# The replay planner (strategies, planning, export), imported on first use: the planner
# loads scikit-learn and POT, which commands like `inscl report` never need.
_LAZY_EXPORTS = {
    "PlannerConfig": "inscl.planner", "ReplayPlanner": "inscl.planner", "StagePlan": "inscl.planner",
    "plan_stream": "inscl.planner", "write_plan": "inscl.export", "PrecomputedEncoder": "inscl.precomputed",
    "load_embeddings": "inscl.precomputed", "load_tags": "inscl.precomputed", "STRATEGIES": "inscl.strategies",
    "Strategy": "inscl.strategies",
}
__all__ += ["STRATEGIES", "PlannerConfig", "PrecomputedEncoder", "ReplayPlanner", "StagePlan", "Strategy",
            "load_embeddings", "load_tags", "plan_stream", "write_plan"]


def __getattr__(name: str) -> object:
    if name in _LAZY_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'inscl' has no attribute {name!r}")
