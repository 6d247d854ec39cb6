"""The continual fine-tuning experiment: every (order, seed) pair, every strategy, stage by stage.

Stage t starts from the weights saved by stage t-1 (always reloaded from disk, so an
interrupted and resumed run follows exactly the same path as an uninterrupted one),
trains on task t's train split plus the planner's replay, and evaluates on the test
splits of tasks 1..t. Stage 1 has no replay, so it is trained once per (order, seed)
under ``shared/`` and copied into every strategy: the strategies of one (order, seed)
share data and stage 1, which is what makes them *paired*. Pairs run one after the
other, so an interrupted experiment leaves complete pairs behind. Finished stages are
skipped on a rerun.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inscl.data.jsonio import read_json, read_jsonl, write_json, write_jsonl
from inscl.data.task import Example
from inscl.runner import metrics as M
from inscl.runner.config import ExperimentConfig
from inscl.runner.data import TaskSplit, load_streams, safe_name, stage_dir_name
from inscl.runner.rundir import RUN_SCHEMA_VERSION, RunDir, link_or_copy_tree, write_dir_atomically
from inscl.runner.scoring import METRICS

log = logging.getLogger("inscl.runner")

#: results.json format. 2: ``metric``, ``metrics.relative_gain_by_reference``,
#: ``final_rg_by_reference``, ``reference_warnings``, ``min_reference`` (1: files without the field).
RESULTS_FORMAT_VERSION = 2


def auto_progress(progress: bool | None) -> bool:
    """Bars only on a terminal and outside CI."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() and not os.environ.get("CI")


class _Session:
    """Model loading, training and evaluation for one experiment (one process)."""

    def __init__(self, config: ExperimentConfig, run: RunDir, progress: bool) -> None:
        from inscl.runner.train import get_accelerator

        self.config = config
        self.run = run
        self.progress = progress
        self.accelerator = get_accelerator(config.model.device)
        self.device = self.accelerator.device  # one GPU per process under `accelerate launch`
        _, self.tokenizer = self._load_base(tokenizer_only=True)

    # ---- models ------------------------------------------------------------------------------
    def _load_base(self, tokenizer_only: bool = False) -> tuple[Any, Any]:
        from inscl.runner.models import load_model

        m = self.config.model
        model, tok = load_model(m.name, m.dtype, "cpu", cache_dir=m.cache_dir, tiny_layers=m.tiny_layers,
                                tiny_hidden=m.tiny_hidden, init_seed=m.init_seed)
        return (None if tokenizer_only else model), tok

    def model_from(self, stage_dir: Path | None) -> Any:
        """The trainable model: the base, or the weights of a finished stage."""
        from inscl.runner.train import make_trainable

        ft = self.config.finetune
        if stage_dir is not None and ft.mode == "full":
            from transformers import AutoModelForCausalLM

            from inscl.runner.models import resolve_dtype

            model = AutoModelForCausalLM.from_pretrained(stage_dir / "model",
                                                         dtype=resolve_dtype(self.config.model.dtype, "cpu"))
            model = make_trainable(model, ft)
        else:
            base, _ = self._load_base()
            model = make_trainable(base, ft, str(stage_dir / "adapter") if stage_dir is not None else None)
        return model.to(self.device)

    # ---- one stage ----------------------------------------------------------------------------
    def train_and_evaluate(self, target: Path, previous: Path | None, index: int, train: Sequence[Example],
                           eval_tasks: Sequence[TaskSplit], seed: int, desc: str, *, save_weights: bool = True,
                           extra: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Trains stage ``index`` from ``previous`` on ``train``, evaluates ``eval_tasks``, and
        writes everything to ``target`` atomically. Returns ``{task: ROUGE-L}``."""
        from inscl.runner.evaluate import evaluate_task, new_token_budget
        from inscl.runner.train import seed_everything, stage_seed, train_stage

        cfg = self.config
        seed_everything(stage_seed(seed, index))  # a new LoRA adapter's initialisation draws from it
        model = self.model_from(previous)
        stats = train_stage(model, self.tokenizer, train, optim=cfg.optim, prompt=cfg.prompt,
                            seed=stage_seed(seed, index), accelerator=self.accelerator, progress=self.progress,
                            desc=desc)
        acc = self.accelerator
        unwrapped = acc.unwrap_model(model)
        scores: dict[str, float] = {}
        budgets: dict[str, int] = {}
        records: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        if acc.is_main_process:
            ev = cfg.evaluation
            for split in eval_tasks:
                # From the task's train references, so that no test information sets the budget.
                budgets[split.name] = new_token_budget(split.train.examples, self.tokenizer, ev.max_new_tokens,
                                                       ev.tokens_margin) if ev.per_task_tokens else ev.max_new_tokens
                with acc.autocast():
                    score, recs = evaluate_task(unwrapped, self.tokenizer, split.name, split.test.examples,
                                                prompt=cfg.prompt, max_new_tokens=budgets[split.name],
                                                batch_size=ev.batch_size, progress=self.progress,
                                                metric=ev.metric)
                scores[split.name] = score
                records.extend(recs)
        eval_s = time.perf_counter() - t0
        if acc.is_main_process:
            def build(tmp: Path) -> None:
                if save_weights:
                    weights = tmp / ("model" if cfg.finetune.mode == "full" else "adapter")
                    unwrapped.save_pretrained(weights, safe_serialization=True)
                    if cfg.finetune.mode == "full":
                        self.tokenizer.save_pretrained(weights)
                write_jsonl(tmp / "generations.jsonl", records)
                write_json(tmp / "scores.json", scores)
                write_json(tmp / "stats.json", {**stats.to_dict(), "eval_s": round(eval_s, 3),
                                                "train_examples": len(train), "max_new_tokens": budgets,
                                                "new_tokens": sum(r["new_tokens"] for r in records),
                                                **dict(extra or {})})

            write_dir_atomically(target, build)
        acc.wait_for_everyone()
        return scores


def _planner_for(config: ExperimentConfig, strategy: str, seed: int, cache: Path, progress: bool) -> Any:
    from inscl.encoders import make_encoder
    from inscl.replay.planner import PlannerConfig, ReplayPlanner
    from inscl.replay.strategies import STRATEGIES

    r = config.replay
    pc = PlannerConfig(strategy=strategy, budget=r.budget, seed=seed, distribution=r.distribution,
                       wasserstein=r.wasserstein, max_exact=r.max_exact, n_neighbors=r.n_neighbors,
                       dbscan_eps=r.dbscan_eps, dbscan_min_samples=r.dbscan_min_samples)
    encoder = make_encoder(r.encoder, cache_dir=cache / "embeddings", progress=progress)
    tag_encoder = make_encoder(r.tag_encoder, cache_dir=cache / "embeddings", progress=progress) \
        if r.tag_encoder else None
    tags: Any = None
    if STRATEGIES[strategy].needs_tags:
        from inscl.taggers import make_tagger

        tags = make_tagger(r.tagger, cache_dir=cache / "tags", progress=progress)
        if r.tags_file:  # the file's tags; the tagger only for instructions it does not cover (warned)
            from inscl.taggers.fallback import TableTagger

            tags = TableTagger(read_tags_file(r.tags_file), tags, source=Path(r.tags_file).name)
    return ReplayPlanner(pc, encoder, tags=tags, tag_encoder=tag_encoder, progress=progress)


def read_tags_file(path: str | Path) -> dict[str, list[str]]:
    """A JSON object ``{instruction: [tags]}`` or a JSONL tag file (tags as strings, InsTag
    ``{"tag", "explanation"}`` objects or a raw model reply), see
    :func:`inscl.taggers.fallback.read_tag_table`."""
    from inscl.taggers.fallback import read_tag_table

    return read_tag_table(path)


def _stage_scores(stage_dir: Path) -> dict[str, float]:
    return read_json(stage_dir / "scores.json")


def run_experiment(config: ExperimentConfig, *, progress: bool | None = None) -> list[dict[str, Any]]:
    """Runs or resumes every (strategy, seed) of ``config``; returns the results.json documents."""
    streams = _validate(config)  # bad input fails in a moment, before torch and transformers load
    import torch

    progress = auto_progress(progress)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    if not progress:  # transformers' own bars (loading/saving weights) too
        hf_logging.disable_progress_bar()
    try:
        return _run(config, streams, progress)
    finally:  # leave the process as it was (the API may be called from a larger program)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        if bars:
            hf_logging.enable_progress_bar()


def _inputs(config: ExperimentConfig) -> list[str]:
    return [*config.data.source, *([config.replay.tags_file] if config.replay.tags_file else [])]


def _validate(config: ExperimentConfig) -> dict[str, list[TaskSplit]]:
    """Reads the inputs and checks the output folder before anything is written, so bad
    input leaves no output behind; returns the task stream of every order."""
    from inscl.pathchecks import check_cache_dir

    RunDir(config.output_dir).check(_inputs(config))  # a folder we may not write into is refused first
    if config.replay.cache_dir:
        check_cache_dir(config.replay.cache_dir, "replay.cache_dir")
    streams = load_streams(config.data)
    if config.replay.tags_file:
        read_tags_file(config.replay.tags_file)
    return streams


def _run(config: ExperimentConfig, streams: dict[str, list[TaskSplit]], progress: bool) -> list[dict[str, Any]]:
    inputs = _inputs(config)
    from inscl.runner.models import resolve_device
    from inscl.runner.train import get_accelerator

    resolve_device(config.model.device)  # a clear error when CUDA is asked for but absent
    accelerator = get_accelerator(config.model.device)
    # Under `accelerate launch` every process trains; only the main one writes files.
    run = RunDir(config.output_dir, active=accelerator.is_main_process)
    if run.active:
        run.claim(config.to_yaml(), config.identity_hash(), config.overwrite, config.replay.strategies, inputs)
        for split in next(iter(streams.values())):  # every order holds the same splits
            write_jsonl(run.data / f"{safe_name(split.name)}.train.jsonl", [_record(e) for e in split.train])
            write_jsonl(run.data / f"{safe_name(split.name)}.test.jsonl", [_record(e) for e in split.test])
    accelerator.wait_for_everyone()
    cache = Path(config.replay.cache_dir) if config.replay.cache_dir else run.root / "cache"
    session = _Session(config, run, progress)
    results: list[dict[str, Any]] = []
    for seed in config.seeds:  # seeds outside, orders inside: a stopped run has pairs of every order
        for order, stream in streams.items():
            results.extend(_run_pair(config, session, stream, order, seed, cache, progress))
    if run.active:
        write_json(run.root / "summary.json", _summary(_all_results(run)))
    return results


def _run_pair(config: ExperimentConfig, session: _Session, stream: Sequence[TaskSplit], order: str, seed: int,
              cache: Path, progress: bool) -> list[dict[str, Any]]:
    """Every strategy on one (order, seed): the paired runs, sharing data and stage 1."""
    run = session.run
    names = [s.name for s in stream]
    T = len(stream)
    shared = run.shared(order, seed) / stage_dir_name(1, names[0])
    _ensure_stage(session, stream, shared, None, 1, list(stream[0].train), "shared", order, seed,
                  extra={"replay": 0})
    results = []
    for strategy in config.replay.strategies:
        t_plan = time.perf_counter()
        planner = _planner_for(config, strategy, seed, cache, progress)
        plans = [planner.add_task(split.train) for split in stream]
        plan_s = time.perf_counter() - t_plan
        out = run.run(strategy, order, seed)
        first = out / stage_dir_name(1, names[0])
        if run.active:
            write_json(out / "plan.json", planner.to_dict())
            if first.is_dir():
                run.log("skipped", strategy, order, seed, 1, names[0])
            else:
                link_or_copy_tree(shared, first)
                run.log("shared", strategy, order, seed, 1, names[0], "copied from shared/")
        session.accelerator.wait_for_everyone()
        previous = first
        for t in range(2, T + 1):
            target = out / stage_dir_name(t, names[t - 1])
            replay = list(plans[t - 1].replay)
            _ensure_stage(session, stream, target, previous, t, list(stream[t - 1].train) + replay, strategy,
                          order, seed, extra={"replay": len(replay)})
            previous = target
        doc = _results(config, session, stream, strategy, order, seed, out, planner.to_dict(), plan_s)
        if run.active:
            write_json(out / "results.json", doc)
        results.append(doc)
    return results


def _record(example: Example) -> dict[str, Any]:
    """A ``data/*.jsonl`` record: the alpaca fields plus every reference output (``output`` first)."""
    return {**example.to_alpaca(), "references": list(example.all_references())}


def _ensure_stage(session: _Session, stream: Sequence[TaskSplit], target: Path, previous: Path | None, index: int,
                  train: list[Example], label: str, order: str, seed: int, extra: Mapping[str, Any]) -> None:
    run, T = session.run, len(stream)
    task = stream[index - 1].name
    if target.is_dir():
        run.log("skipped", label, order, seed, index, task, "already finished")
        log.info("[%s %s seed %d] stage %d/%d %s: already finished, skipped", label, order, seed, index, T, task)
        return
    t0 = time.perf_counter()
    scores = session.train_and_evaluate(target, previous, index, train, stream[:index], seed,
                                        desc=f"{label} {order} s{seed} stage {index}/{T}", extra=extra)
    run.log("trained", label, order, seed, index, task, f"{len(train)} examples")
    shown = ", ".join(f"{k}={v:.3f}" for k, v in scores.items())
    log.info("[%s %s seed %d] stage %d/%d %s: trained on %d examples (%d replay) in %.1fs; ROUGE-L %s", label,
             order, seed, index, T, task, len(train), extra.get("replay", 0), time.perf_counter() - t0, shown)


def _expert_scores(session: _Session, stream: Sequence[TaskSplit], order: str, seed: int) -> dict[str, float]:
    """Each task trained alone from the base model (task 1: the shared stage 1); cached."""
    run = session.run
    names = [s.name for s in stream]
    scores = {names[0]: _stage_scores(run.shared(order, seed) / stage_dir_name(1, names[0]))[names[0]]}
    for t in range(2, len(names) + 1):
        target = run.experts(order, seed) / f"{t:02d}_{safe_name(names[t - 1])}"
        if target.is_dir():
            run.log("skipped", "expert", order, seed, t, names[t - 1], "already finished")
        else:
            split = stream[t - 1]
            session.train_and_evaluate(target, None, t, list(split.train), [split], seed,
                                       desc=f"expert {order} s{seed} {names[t - 1]}", save_weights=False,
                                       extra={"replay": 0})
            run.log("trained", "expert", order, seed, t, names[t - 1])
            log.info("[expert %s seed %d] task %s trained alone", order, seed, names[t - 1])
        scores[names[t - 1]] = _stage_scores(target)[names[t - 1]]
    return scores


def _results(config: ExperimentConfig, session: _Session, stream: Sequence[TaskSplit], strategy: str, order: str,
             seed: int, out: Path, plan: dict[str, Any], plan_s: float) -> dict[str, Any]:
    names = [s.name for s in stream]
    T = len(names)
    dirs = [out / stage_dir_name(t, names[t - 1]) for t in range(1, T + 1)]
    R: list[list[float | None]] = []
    for t, d in enumerate(dirs):
        s = _stage_scores(d)
        R.append([s[names[i]] if i <= t else None for i in range(T)])
    diagonal = dict(zip(names, M.diagonal_reference(R)))
    # Experts cost a training run per task: computed only when they are the configured reference.
    expert = _expert_scores(session, stream, order, seed) if config.reference == "expert" else None
    ref_scores = expert if expert is not None else diagonal
    by_kind = {"expert": [expert[n] for n in names] if expert is not None else None,
               "diagonal": [diagonal[n] for n in names]}
    metrics = M.summarize(R, names, [ref_scores[n] for n in names], references=by_kind,
                          min_reference=config.evaluation.min_reference)
    for kind, entries in metrics["reference_warnings"].items():
        for w in entries:
            log.warning("[%s %s seed %d] %s", strategy, order, seed, M.format_reference_warning(w, kind))
    final = _by_task(read_jsonl(dirs[-1] / "generations.jsonl"))
    learned = {names[i]: _by_task(read_jsonl(dirs[i] / "generations.jsonl")).get(names[i], [])
               for i in range(T - 1)}
    metrics["forgetting_analysis"] = M.forgetting_analysis(learned, final, config.evaluation.forgetting_threshold)
    stages = []
    for t, d in enumerate(dirs, 1):
        st = read_json(d / "stats.json")
        stages.append({"stage": t, "task": names[t - 1], **st})
    timing = {"stages": stages, "plan_s": round(plan_s, 3),
              "train_s": round(sum(s.get("train_s", 0.0) for s in stages), 3),
              "eval_s": round(sum(s.get("eval_s", 0.0) for s in stages), 3)}
    return {"format_version": RESULTS_FORMAT_VERSION, "schema_version": RUN_SCHEMA_VERSION, "strategy": strategy,
            "order_name": order, "seed": seed, "pair": f"{order}/seed{seed}", "budget": config.replay.budget,
            "order": list(names), "R": R,
            "reference": {"kind": config.reference, "scores": ref_scores}, "metrics": metrics, "plan": plan,
            "metric": {"name": config.evaluation.metric, "description": METRICS[config.evaluation.metric]},
            "config": config.to_dict(), "timing": timing,
            "model": config.model.name, "finetune": config.finetune.mode,
            "stage_dirs": [str(d.relative_to(session.run.root)) for d in dirs]}


def _by_task(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["task"], []).append(r)
    return out


def _all_results(run: RunDir) -> list[dict[str, Any]]:
    return [read_json(p) for p in run.results_files()]


def _summary(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (strategy, order, seed): the headline metrics."""
    return [{"strategy": d["strategy"], "order_name": d["order_name"], "seed": d["seed"], "final_rg": d["metrics"]["final_rg"],
             "relative_gain": d["metrics"]["relative_gain"], "avg_score": d["metrics"]["avg_score"],
             "bwt": d["metrics"]["bwt"], "reference": d["reference"]["kind"], "order": d["order"]} for d in docs]
