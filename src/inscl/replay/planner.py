"""The replay planner: which examples of tasks 1..t-1 are replayed when training task t.

:class:`ReplayPlanner` is online: :meth:`ReplayPlanner.add_task` registers the next task
of the stream and returns its :class:`StagePlan` right away, so a plan can grow as tasks
arrive. Everything a stage uses is cached across stages: every distinct instruction (and
tag) is encoded once, the Wasserstein distance of a pair of tasks is computed once. The
InsInfo scores are recomputed at every stage, because the tag frequencies change as
instructions arrive.

Randomness comes from one :class:`numpy.random.Generator` per (seed, stage, previous
task), so a plan depends only on the seed and the tasks up to the stage: adding a task
never changes an earlier stage, and the same seed gives the same plan.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from inscl.data.task import Example, Task
from inscl.errors import ConfigError, InputError
from inscl.replay import selectors
from inscl.replay.distance import Wasserstein, instruction_distribution, wasserstein
from inscl.replay.insinfo import InsInfoLogArguments, insinfo_scores
from inscl.replay.quotas import dynamic_quotas, fixed_quotas
from inscl.replay.strategies import STRATEGIES, Strategy
from inscl.replay.tag_calibration import merge_parameters
from inscl.replay.tags import TagMerger, normalize_tag

if TYPE_CHECKING:  # the packages' __init__ load models' dependencies; the planner only needs the protocols
    from inscl.encoders.base import Encoder
    from inscl.taggers.base import Tagger

__all__ = ["BudgetWarning", "DegenerateSignalWarning", "DistanceWarning", "PlannerConfig", "ReplayPlanner",
           "StagePlan", "example_text", "plan_stream"]

log = logging.getLogger(__name__)

#: 2: stages of InsInfo strategies carry ``n_instructions``, ``tags`` and ``tag_frequencies``.
#: 3: plan folders (``write_plan``) gain ``record_format`` and ``stages[].datasets``.
#: 4: stages record ``distance_methods`` and ``distance_bounds`` per previous task.
PLAN_FORMAT_VERSION = 4


class BudgetWarning(UserWarning):
    """The replay budget asks for more examples than a previous task (or all of them) holds."""


class DegenerateSignalWarning(UserWarning):
    """A signal the plan relies on carries no information: all-zero embeddings, instructions
    without tags, all distances or all InsInfo scores equal. The plan is still made."""


@dataclass
class PlannerConfig:
    """Parameters of a :class:`ReplayPlanner` (validated on construction).

    Attributes
    ----------
    strategy:
        A name in :data:`inscl.replay.strategies.STRATEGIES`.
    budget:
        Examples per previous task; stage t replays ``budget * (t - 1)`` in all.
    seed:
        Seed of every random choice (selection, tie breaking).
    distribution:
        ``"real"`` weighs an instruction by its share of the task's examples,
        ``"uniform"`` weighs the distinct instructions equally.
    wasserstein:
        ``"exact"`` (POT ``emd2`` on the dense cost matrix), ``"sparse"`` (network
        simplex on a nearest-neighbour candidate graph, memory linear in the number of
        instructions, with an error bound), ``"sinkhorn"``, or ``"auto"`` (exact when
        both tasks have at most ``max_exact`` distinct instructions, else sparse).
    max_exact:
        Size limit of the exact solver under ``"auto"``.
    sinkhorn_reg:
        Entropic regularisation of the Sinkhorn solver.
    n_neighbors:
        Candidate edges per instruction of the sparse solver.
    max_memory_gb:
        Memory the dense solvers (exact, Sinkhorn) may take for one pair; a pair that
        would need more is refused before anything is computed. ``None``: the memory
        available when the stage starts.
    dbscan_eps, dbscan_min_samples:
        DBSCAN parameters (cosine distance) for merging near-synonym tags; ``None``: the
        values calibrated for the tag encoder (:mod:`inscl.replay.tag_calibration`), or the
        paper's 0.1 and 5 for an encoder without a calibration.
    """

    strategy: str = "inscl"
    budget: int = 200
    seed: int = 0
    distribution: str = "real"
    wasserstein: str = "auto"
    max_exact: int = 2000
    sinkhorn_reg: float = 0.01
    n_neighbors: int = 16
    max_memory_gb: float | None = None
    dbscan_eps: float | None = None
    dbscan_min_samples: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r}; valid strategies: {', '.join(STRATEGIES)}",
                              field="strategy")
        _check_int(self.budget, "budget", 0)
        _check_int(self.seed, "seed", 0)
        _check_choice(self.distribution, "distribution", ("real", "uniform"))
        _check_choice(self.wasserstein, "wasserstein", ("auto", "exact", "sparse", "sinkhorn"))
        _check_int(self.max_exact, "max_exact", 1)
        _check_int(self.n_neighbors, "n_neighbors", 1)
        if self.max_memory_gb is not None:
            _check_float(self.max_memory_gb, "max_memory_gb", low=0.0, high=None)
            self.max_memory_gb = float(self.max_memory_gb)
        _check_float(self.sinkhorn_reg, "sinkhorn_reg", low=0.0, high=None)
        # Cosine distances live in [0, 2].
        if self.dbscan_eps is not None:
            _check_float(self.dbscan_eps, "dbscan_eps", low=0.0, high=2.0)
            self.dbscan_eps = float(self.dbscan_eps)
        if self.dbscan_min_samples is not None:
            _check_int(self.dbscan_min_samples, "dbscan_min_samples", 1)
            self.dbscan_min_samples = int(self.dbscan_min_samples)
        self.budget, self.seed = int(self.budget), int(self.seed)
        self.max_exact = int(self.max_exact)
        self.n_neighbors = int(self.n_neighbors)
        self.sinkhorn_reg = float(self.sinkhorn_reg)

    @property
    def strategy_spec(self) -> Strategy:
        return STRATEGIES[self.strategy]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannerConfig:
        """Builds a config from a mapping; an unknown key is a :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"unknown planner parameter {key!r}; valid: {', '.join(sorted(known))}",
                                  field=str(key))
        return cls(**dict(data))


@dataclass
class StagePlan:
    """The replay of one stage: which examples of each previous task are mixed in.

    ``quotas``, ``available``, ``distances``, ``insinfo`` and ``selected`` are keyed by
    previous task name (empty at stage 1). ``insinfo`` maps each instruction of a
    previous task to its score at this stage; ``selected`` lists example ids in the
    order of ``replay``. For InsInfo strategies, ``tags`` holds the canonical (normalised,
    merged) tags of every instruction scored at this stage (tasks 1..t), ``n_instructions``
    their number N and ``tag_frequencies`` how many of them carry each tag, so that
    ``insinfo[task][s] = sum(log(N / tag_frequencies[g]) for g in tags[s])``.
    """

    index: int
    task: str
    quotas: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    distances: dict[str, float] = field(default_factory=dict)
    insinfo: dict[str, dict[str, float]] = field(default_factory=dict)
    selected: dict[str, list[str]] = field(default_factory=dict)
    replay: list[Example] = field(default_factory=list)
    wasserstein_method: str | None = None
    distance_methods: dict[str, str] = field(default_factory=dict)
    distance_bounds: dict[str, float | None] = field(default_factory=dict)
    n_instructions: int | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    tag_frequencies: dict[str, int] = field(default_factory=dict)

    @property
    def replay_total(self) -> int:
        return len(self.replay)

    def to_dict(self) -> dict[str, Any]:
        """The stage's entry of ``plan.json`` (``replay`` is given by ``selected``)."""
        return {"index": self.index, "task": self.task, "quotas": dict(self.quotas),
                "available": dict(self.available), "distances": dict(self.distances),
                "insinfo": {t: dict(s) for t, s in self.insinfo.items()},
                "n_instructions": self.n_instructions,
                "tags": {s: list(g) for s, g in self.tags.items()},
                "tag_frequencies": dict(self.tag_frequencies),
                "selected": {t: list(ids) for t, ids in self.selected.items()},
                "wasserstein_method": self.wasserstein_method,
                "distance_methods": dict(self.distance_methods), "distance_bounds": dict(self.distance_bounds),
                "replay_total": self.replay_total}


def example_text(example: Example) -> str:
    """The text embedded for an example (prototype-data): instruction, then input."""
    return f"{example.instruction}\n\n{example.input}" if example.input else example.instruction


def _warn_zero_rows(texts: Sequence[str], matrix: np.ndarray, encoder_id: str) -> None:
    zero = [texts[i] for i in np.flatnonzero(~matrix.any(axis=1))]
    if zero:
        _degenerate(f"{len(zero)} of {len(texts)} texts have an all-zero embedding from encoder "
                    f"{encoder_id!r} (e.g. {_short(zero[0])}); distances to them carry no signal")


class _MemoEncoder:
    """Wraps an encoder so each distinct text is encoded once for the planner's lifetime."""

    def __init__(self, encoder: Encoder) -> None:
        self.inner = encoder
        self.id = encoder.id
        self._vectors: dict[str, np.ndarray] = {}
        self._dim: int | None = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            matrix = np.asarray(self.inner.encode(new), dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != len(new):
                raise ValueError(f"encoder {self.id!r} returned shape {matrix.shape} for {len(new)} texts")
            self._dim = matrix.shape[1]
            self._vectors.update(zip(new, matrix))
            _warn_zero_rows(new, matrix, self.id)
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


class ReplayPlanner:
    """Plans replay online, one task at a time (see the module docstring).

    Parameters
    ----------
    config:
        The :class:`PlannerConfig`.
    encoder:
        Encodes instructions (and, for ``prototype-data``, examples).
    tags:
        Raw intention tags: a mapping ``{instruction: [tags]}`` or a
        :class:`inscl.taggers.Tagger` (called once per new instruction). Required by
        strategies that use InsInfo.
    tag_encoder:
        Encodes tags for merging near-synonyms; ``encoder`` when omitted.
    progress:
        Show progress bars; ``None`` shows them only on a terminal.
    n_jobs:
        Threads that compute the Wasserstein pairs of a stage (or of a whole stream, see
        :meth:`prefetch_distances`) side by side; ``None``: the CPUs this process may use.
        The results do not depend on it (each pair is solved on its own, deterministically).
    """

    def __init__(self, config: PlannerConfig, encoder: Encoder,
                 tags: Mapping[str, Sequence[str]] | Tagger | None = None,
                 tag_encoder: Encoder | None = None, progress: bool | None = None,
                 n_jobs: int | None = None) -> None:
        if not isinstance(config, PlannerConfig):
            raise TypeError(f"config must be a PlannerConfig, got {type(config).__name__}")
        if n_jobs is not None:
            _check_int(n_jobs, "n_jobs", 1)
        self.n_jobs = int(n_jobs) if n_jobs is not None else available_cpus()
        self.config = config
        self.strategy: Strategy = config.strategy_spec
        if self.strategy.needs_tags and tags is None:
            raise ConfigError(f"strategy {config.strategy!r} needs intention tags (InsInfo): pass tags= "
                              "a mapping {instruction: [tags]} or a Tagger", field="tags")
        self.encoder = encoder
        self._encoder = _MemoEncoder(encoder)
        self._tag_encoder = _MemoEncoder(tag_encoder) if tag_encoder is not None else self._encoder
        # eps/min_samples left unset: the values calibrated for this tag encoder.
        self.merge_eps, self.merge_min_samples, self.merge_source = merge_parameters(
            self._tag_encoder.id, config.dbscan_eps, config.dbscan_min_samples)
        is_tagger = not isinstance(tags, Mapping) and callable(getattr(tags, "tag", None))
        self._tagger: Tagger | None = tags if is_tagger else None  # type: ignore[assignment]
        self._tag_table: Mapping[str, Sequence[str]] | None = None if self._tagger is not None else tags
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.tasks: list[Task] = []
        self.stages: list[StagePlan] = []
        self._raw_tags: dict[str, list[str]] = {}
        self._distances: dict[tuple[str, str], Wasserstein] = {}
        # Per registered task (names are unique): what every later stage reuses.
        self._task_instructions: dict[str, list[str]] = {}
        self._task_distributions: dict[str, Any] = {}
        self._normalised: dict[str, list[str]] = {}
        self._canonical: dict[str, list[str]] = {}  # the last stage's canonical tags
        self._tag_merger: TagMerger | None = None

    # ----------------------------------------------------------------------------------
    @property
    def order(self) -> list[str]:
        return [t.name for t in self.tasks]

    def add_task(self, task: Task) -> StagePlan:
        """Registers ``task`` as the next stage and returns that stage's replay plan.

        The task must not change afterwards: later stages reuse what was derived from it.
        Raises :class:`InputError` for an empty task, a repeated task name or example id,
        or an instruction without tags; the planner is then unchanged.
        """
        self._check_task(task)
        index = len(self.tasks) + 1
        previous = list(self.tasks)
        self.tasks.append(task)
        try:
            stage = self._plan_stage(index, task, previous)
        except BaseException:
            # A failed stage leaves the planner as it was (a fixed task may come back under the same name).
            self.tasks.pop()
            self._task_instructions.pop(task.name, None)
            self._task_distributions.pop(task.name, None)
            for key in [k for k in self._distances if task.name in k]:
                del self._distances[key]
            self._tag_merger = None  # it may hold the failed task's tags; rebuilt from scratch if needed
            raise
        self.stages.append(stage)
        return stage

    def to_dict(self, stages: bool = True) -> dict[str, Any]:
        """The ``plan.json`` document (see docs/architecture.md and docs/planner.md);
        ``stages=False`` leaves its ``stages`` list empty (a writer that encodes them one by one)."""
        c = self.config
        return {"format_version": PLAN_FORMAT_VERSION, "strategy": c.strategy, "budget": c.budget,
                "seed": c.seed, "order": self.order, "config": c.to_dict(),
                "encoder": self.encoder.id if self.strategy.needs_embeddings else None,
                "tag_encoder": self._tag_encoder.id if self.strategy.selector == "insinfo" else None,
                "tag_merge": ({"eps": self.merge_eps, "min_samples": self.merge_min_samples,
                               "source": self.merge_source} if self.strategy.selector == "insinfo" else None),
                "stages": [s.to_dict() for s in self.stages] if stages else []}

    # ----------------------------------------------------------------------------------
    def _check_task(self, task: Task) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"expected a Task, got {type(task).__name__}")
        if not task.name:
            raise InputError("task has no name", field="task")
        if task.name in self.order:
            raise InputError(f"task {task.name!r} is already in the stream (stage "
                             f"{self.order.index(task.name) + 1})", field="task")
        if not task.examples:
            raise InputError(f"task {task.name!r} has no examples", field="task")
        seen: set[str] = set()
        for e in task.examples:
            if e.id in seen:
                raise InputError(f"example id {e.id!r} appears twice in task {task.name!r}", field="id")
            seen.add(e.id)

    def _plan_stage(self, index: int, task: Task, previous: list[Task]) -> StagePlan:
        stage = StagePlan(index=index, task=task.name)
        if not previous:
            return stage  # stage 1: nothing to replay
        rule = self.strategy.quotas
        stage.available = {p.name: len(p) for p in previous}
        if rule == "dynamic":
            self._check_distance_memory(previous, task)
            self._compute_distances([(p, task) for p in previous])
            results = {p.name: self._distance(p, task) for p in previous}
            stage.distances = {name: float(w.value) for name, w in results.items()}
            stage.distance_methods = {name: w.method for name, w in results.items()}
            stage.distance_bounds = {name: w.error_bound for name, w in results.items()}
            if len(stage.distances) > 1 and len(set(stage.distances.values())) == 1:
                _degenerate(f"stage {index}: all {len(stage.distances)} Wasserstein distances are equal "
                            f"({next(iter(stage.distances.values())):.4g}); the budget is split evenly")
            methods = sorted({w.method for w in results.values()})
            stage.wasserstein_method = methods[0] if len(methods) == 1 else "mixed"
            _warn_if_mixed_bias(task.name, results)
        stage.quotas = self._quotas(rule, stage.available, stage.distances, index)
        scores: dict[str, float] = {}
        log_arguments = None
        if self.strategy.selector == "insinfo":
            scores, canonical = self._insinfo(previous + [task])
            stage.n_instructions, stage.tags = len(canonical), canonical
            stage.tag_frequencies = dict(Counter(g for tags in canonical.values() for g in set(tags)))
            stage.insinfo = {p.name: {s: float(scores[s]) for s in self._instructions(p)} for p in previous}
            log_arguments = InsInfoLogArguments(canonical, stage.tag_frequencies)  # exact flooring in Algorithm 1
            seen = {v for per_task in stage.insinfo.values() for v in per_task.values()}
            if len(seen) == 1 and sum(map(len, stage.insinfo.values())) > 1:
                _degenerate(f"stage {index}: every instruction of the previous tasks has the same InsInfo "
                            f"({seen.pop():.4g}); the selection within each task is uniform")
        current_embeddings = None
        if self.strategy.selector == "diverse-instruction":
            current_embeddings = self._instruction_matrix(task)
        for p in previous:
            n = stage.quotas[p.name]
            chosen = (self._select(p, n, scores, current_embeddings, self._rng(index, p.name), log_arguments)
                      if n else [])
            if len(chosen) != n or len({e.id for e in chosen}) != n:
                raise RuntimeError(f"selector {self.strategy.selector!r} returned {len(chosen)} distinct-id "
                                   f"examples of task {p.name!r} for a quota of {n}")
            stage.selected[p.name] = [e.id for e in chosen]
            stage.replay.extend(chosen)
        log.debug("stage %d (%s): replay %d %s", index, task.name, len(stage.replay), stage.quotas)
        return stage

    def _instructions(self, task: Task) -> list[str]:
        if task.name not in self._task_instructions:
            self._task_instructions[task.name] = task.instructions()
        return self._task_instructions[task.name]

    def _instruction_matrix(self, task: Task) -> np.ndarray:
        return self._encoder.encode(self._instructions(task))

    def _distribution(self, task: Task) -> Any:
        """The task's instruction measure, prepared for its solver (cached per task).

        Dense solvers get ``(unit rows float64, weights)``; the sparse solver a
        :class:`~inscl.replay.sparse_ot.PointIndex` (float32, k-means cells). Instructions
        are encoded in chunks and not memoised, so only this one copy is kept.
        """
        if task.name not in self._task_distributions:
            texts, weights = instruction_distribution(task, self.config.distribution)
            x = self._encode_chunked(texts)
            if self._solver(len(texts)) == "sparse":
                from inscl.replay.sparse_ot import PointIndex

                keep = weights > 0
                self._task_distributions[task.name] = PointIndex.build(x[keep], weights[keep], seed=self.config.seed)
            else:
                self._task_distributions[task.name] = (x, weights)
        return self._task_distributions[task.name]

    def _encode_chunked(self, texts: list[str], chunk: int = 8192) -> np.ndarray:
        out: np.ndarray | None = None
        for start in range(0, len(texts), chunk):
            part = np.asarray(self.encoder.encode(texts[start:start + chunk]), dtype=np.float32)
            if part.ndim != 2 or part.shape[0] != len(texts[start:start + chunk]):
                raise ValueError(f"encoder {self.encoder.id!r} returned shape {part.shape} for "
                                 f"{len(texts[start:start + chunk])} texts")
            if out is None:
                out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
            out[start:start + len(part)] = part
        assert out is not None
        _warn_zero_rows(texts, out, self.encoder.id)
        return out

    def _solver(self, n: int) -> str:
        """The solver a task of ``n`` distinct instructions gets (the same for all its pairs)."""
        c = self.config
        if c.wasserstein == "auto":
            return "exact" if n <= c.max_exact else "sparse"
        return c.wasserstein

    def _check_distance_memory(self, previous: list[Task], task: Task) -> None:
        """A dense solver that would not fit is an :class:`InputError` before anything is computed."""
        from inscl.replay.distance import MemoryLimitError, available_memory, memory_needed

        n = len(task.instruction_counts())
        gb = self.config.max_memory_gb
        limit = int(gb * 2**30) if gb is not None else None
        for p in previous:
            if (p.name, task.name) in self._distances:
                continue
            m = len(p.instruction_counts())
            method = self._pair_solver(m, n)
            if method == "sparse":
                continue
            needed = memory_needed(method, m, n)
            cap = limit if limit is not None else (available_memory() if needed >= (64 << 20) else needed)
            if needed > cap:
                err = MemoryLimitError(method, m, n, needed, cap)
                raise InputError(f"tasks {p.name!r} and {task.name!r}: {err}; use --distance sparse "
                                 f"(or auto)", field="--distance")

    def _pair_solver(self, n: int, m: int) -> str:
        a, b = self._solver(n), self._solver(m)
        return "sparse" if "sparse" in (a, b) else a

    def _quotas(self, rule: str, available: dict[str, int], distances: dict[str, float],
                index: int) -> dict[str, int]:
        budget = self.config.budget
        if rule == "none":
            return {name: 0 for name in available}
        if rule == "all":
            return dict(available)
        if rule == "fixed":
            for name, n in available.items():
                if budget > n:
                    _warn(f"budget {budget} per task exceeds task {name}'s {n} examples; replaying all of them")
            return {k: int(v) for k, v in fixed_quotas(available, budget).items()}
        total = budget * (index - 1)
        have = sum(available.values())
        if total > have:
            _warn(f"budget {budget} per task ({total} in all) exceeds the {have} examples of the previous "
                  f"tasks; replaying all of them")
        else:
            weight = sum(distances.values())
            for name, n in available.items():
                share = total * distances[name] / weight if weight > 0 else total / len(available)
                if share > n:
                    _warn(f"task {name}'s dynamic share {share:.1f} exceeds its {n} examples; replaying all "
                          f"of them and giving the rest to the other tasks")
        return {k: int(v) for k, v in dynamic_quotas(distances, available, total).items()}

    def prefetch_distances(self, tasks: Sequence[Task]) -> None:
        """Computes every Wasserstein pair a stream of ``tasks`` will need, ``n_jobs`` at a time.

        :meth:`add_task` then finds them computed: a stage with a single pair no longer
        leaves a CPU idle. ``tasks`` must be the tasks that will be added, in order and
        unchanged (the pairs are keyed by task name). Does nothing for strategies without
        Wasserstein quotas, or when the stream would fail :meth:`add_task`'s checks (the
        stage that fails reports it).
        """
        tasks = list(tasks)
        if self.strategy.quotas != "dynamic" or len(tasks) < 2:
            return
        names = [t.name for t in self.tasks] + [t.name for t in tasks]
        if len(set(names)) != len(names) or not all(isinstance(t, Task) and t.name and t.examples for t in tasks):
            return
        stream = self.tasks + tasks
        first = len(self.tasks)
        for j in range(max(1, first), len(stream)):
            self._check_distance_memory(stream[:j], stream[j])
        self._compute_distances([(stream[i], stream[j]) for j in range(max(1, first), len(stream))
                                 for i in range(j)])
        # Every pair of the stream is known: the measures (16 x 50k: ~0.9 GB) are not needed
        # again unless another task is added, which builds them anew.
        self._task_distributions.clear()

    def _compute_distances(self, pairs: Sequence[tuple[Task, Task]]) -> None:
        """Fills the distance cache for ``pairs``: measures built one task at a time here,
        then the sparse pairs solved on ``n_jobs`` threads (POT's network simplex and the
        numpy products release the GIL) and the dense ones (small by default) one by one."""
        todo = [(a, b) for a, b in pairs if (a.name, b.name) not in self._distances]
        if not todo:
            return
        for task in {t.name: t for pair in todo for t in pair}.values():  # the encoder stays on this thread
            self._distribution(task)
        sparse = [(a, b) for a, b in todo
                  if self._pair_solver(len(a.instruction_counts()), len(b.instruction_counts())) == "sparse"]
        if sparse:
            from concurrent.futures import ThreadPoolExecutor

            from threadpoolctl import threadpool_limits

            # One BLAS thread per solve whatever n_jobs is: the workers fill the CPUs, and
            # the products (hence the plan) do not depend on how many threads BLAS had.
            jobs = min(self.n_jobs, len(sparse))
            with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=jobs) as pool:
                solved = list(pool.map(lambda pair: self._pair_distance(*pair), sparse))
            for (a, b), w in zip(sparse, solved):
                self._distances[(a.name, b.name)] = w
        for a, b in todo:
            self._distance(a, b)

    def _distance(self, a: Task, b: Task) -> Wasserstein:
        key = (a.name, b.name)
        if key not in self._distances:
            self._distances[key] = self._pair_distance(a, b)
        return self._distances[key]

    def _pair_distance(self, a: Task, b: Task) -> Wasserstein:
        """W1 between two registered measures; reads the planner's caches only (thread-safe
        once both distributions exist)."""
        c = self.config
        da, db = self._distribution(a), self._distribution(b)
        if self._pair_solver(len(a.instruction_counts()), len(b.instruction_counts())) == "sparse":
            from inscl.replay.sparse_ot import PointIndex, sparse_wasserstein

            ia = da if isinstance(da, PointIndex) else PointIndex.build(da[0], da[1][da[1] > 0])
            ib = db if isinstance(db, PointIndex) else PointIndex.build(db[0], db[1][db[1] > 0])
            return sparse_wasserstein(ia, ib, n_neighbors=c.n_neighbors)
        (xa, wa), (xb, wb) = da, db
        return wasserstein(xa, wa, xb, wb, method=c.wasserstein, max_exact=c.max_exact, reg=c.sinkhorn_reg)

    def _insinfo(self, tasks: Sequence[Task]) -> tuple[dict[str, float], dict[str, list[str]]]:
        """InsInfo of every instruction of ``tasks`` and the canonical tags it was computed from; tags are normalised once per instruction and
        merged incrementally (:class:`~inscl.replay.tags.TagMerger`): a stage embeds and searches
        only the tags it brings, with the clusters a full DBSCAN would give."""
        instructions = list(dict.fromkeys(s for t in tasks for s in self._instructions(t)))
        raw = self._tags_for(instructions)
        for s in instructions:
            if s not in self._normalised:
                tags = raw[s]
                if isinstance(tags, str):
                    raise TypeError(f"tags of instruction {s[:60]!r} must be a list of strings, got a string")
                self._normalised[s] = list(dict.fromkeys(t for t in map(normalize_tag, tags) if t))
        normalised = {s: self._normalised[s] for s in instructions}
        merger = self._tag_merger
        if merger is None:
            encoder = getattr(self._tag_encoder, "inner", self._tag_encoder)  # no second copy of the vectors
            merger = self._tag_merger = TagMerger(encoder, eps=self.merge_eps,
                                                  min_samples=self.merge_min_samples)
        merger.add([t for tags in normalised.values() for t in tags])
        frequency = Counter(t for tags in normalised.values() for t in tags)
        names = merger.names(frequency)
        canonical: dict[str, list[str]] = {}
        for s, tags in normalised.items():
            now = list(dict.fromkeys(names[t] for t in tags))
            before = self._canonical.get(s)
            # Unchanged since the last stage: every stage's plan shares one list (16 x 50k: ~1 GB less).
            canonical[s] = before if before == now else now
        self._canonical = canonical
        return dict(insinfo_scores(canonical)), canonical

    def _tags_for(self, instructions: list[str]) -> dict[str, list[str]]:
        new = [s for s in instructions if s not in self._raw_tags]
        if new:
            if self._tagger is not None:
                got = self._tagger.tag(new)
                missing = [s for s in new if s not in got]
            else:
                assert self._tag_table is not None
                got = self._tag_table
                missing = [s for s in new if s not in got]
            if missing:
                source = f"tagger {self._tagger.id!r}" if self._tagger is not None else "the tags given"
                path = getattr(self._tag_table, "source", None)  # set by inscl.data.precomputed.load_tags
                task = next((t.name for t in self.tasks if missing[0] in self._instructions(t)), "?")
                raise InputError(f"no intention tags for instruction {_short(missing[0])} of task {task!r} in "
                                 f"{source} ({len(missing)} instruction(s) untagged)", path=path, field="tags")
            for s in new:
                self._raw_tags[s] = [str(t) for t in got[s]]
            untagged = [s for s in new if not self._raw_tags[s]]
            if untagged:
                _degenerate(f"{len(untagged)} of {len(new)} instructions have no intention tags (InsInfo 0), "
                            f"e.g. {_short(untagged[0])}")
        return {s: self._raw_tags[s] for s in instructions}

    def _select(self, task: Task, n: int, scores: Mapping[str, float], current_embeddings: np.ndarray | None,
                rng: np.random.Generator, log_arguments: Mapping[str, Any] | None = None) -> list[Example]:
        name = self.strategy.selector
        if name == "all":
            return list(task.examples)
        if name == "random":
            return selectors.select_random(task, n, rng)
        if name == "insinfo":
            return selectors.select_insinfo(task, n, {s: scores[s] for s in self._instructions(task)}, rng,
                                            log_arguments)
        if name == "prototype-data":
            return selectors.select_prototype_data(
                task, n, self._encoder.encode([example_text(e) for e in task.examples]), rng)
        if name == "prototype-instruction":
            return selectors.select_prototype_instruction(task, n, self._instruction_matrix(task), rng)
        if name == "diverse-instruction":
            return selectors.select_diverse_instruction(task, n, self._instruction_matrix(task),
                                                        current_embeddings, rng)
        raise AssertionError(f"unhandled selector {name!r}")

    def _rng(self, index: int, task_name: str) -> np.random.Generator:
        # One stream per (seed, stage, task): a new task or quota elsewhere never shifts it.
        digest = hashlib.sha256(task_name.encode("utf-8")).digest()
        words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
        return np.random.default_rng(np.random.SeedSequence([self.config.seed, index, *words]))


def plan_stream(tasks: Iterable[Task], config: PlannerConfig, encoder: Encoder,
                tags: Mapping[str, Sequence[str]] | Tagger | None = None,
                tag_encoder: Encoder | None = None, progress: bool | None = None,
                n_jobs: int | None = None) -> ReplayPlanner:
    """Plans a whole stream: a :class:`ReplayPlanner` with every task of ``tasks`` added in order
    (the Wasserstein pairs of all stages computed first, ``n_jobs`` at a time)."""
    planner = ReplayPlanner(config, encoder, tags, tag_encoder=tag_encoder, progress=progress, n_jobs=n_jobs)
    tasks = list(tasks)
    planner.prefetch_distances(tasks)
    for task in tqdm(tasks, desc="planning", unit="stage", disable=not planner.progress):
        planner.add_task(task)
    return planner


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class DistanceWarning(UserWarning):
    """A stage's distances come from estimators whose error could reorder them."""


def _warn_if_mixed_bias(task: str, results: Mapping[str, Wasserstein]) -> None:
    """Warns when pairs of one stage use different solvers and a bound exceeds the gap between two distances."""
    if len({w.method for w in results.values()}) < 2:
        return
    values = sorted(w.value for w in results.values())
    gaps = [b - a for a, b in itertools.pairwise(values) if b > a]
    worst = max((w.error_bound or 0.0) for w in results.values())
    if gaps and worst > min(gaps):
        warnings.warn(f"stage of task {task}: distances mix solvers ({', '.join(sorted({w.method for w in results.values()}))}) "
                      f"and an error bound ({worst:.3g}) exceeds the smallest gap between distances "
                      f"({min(gaps):.3g}); pass --distance sparse to use one solver for every pair",
                      DistanceWarning, stacklevel=4)


def _warn(message: str) -> None:
    warnings.warn(message, BudgetWarning, stacklevel=5)


def _degenerate(message: str) -> None:
    warnings.warn(message, DegenerateSignalWarning, stacklevel=4)


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", field=name)


def _check_float(value: Any, name: str, low: float, high: float | None) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
          and np.isfinite(value) and value > low and (high is None or value <= high))
    if not ok:
        bound = f"in ({low:g}, {high:g}]" if high is not None else f"> {low:g}"
        raise ConfigError(f"{name} must be a number {bound}, got {value!r}", field=name)


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}", field=name)
