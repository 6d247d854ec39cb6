"""``inscl plan``: plan the replay of a task stream and write it for training.

Reads the tasks, splits each one into train and test (seeded), plans the replay of every
stage on the training splits and writes ``--out`` (see :mod:`inscl.data.export`): per-stage
replay and mixture JSONL, ``dataset_info.json`` for LLaMA-Factory, ``plan.json`` and the
splits under ``data/``. Any input problem ends with one line and exit status 2, and
nothing is left in ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import warnings
from pathlib import Path
from typing import Any

from inscl.cli.common import add_cache_dir_argument, add_tasks_argument, read_options
from inscl.data.task import Task, split_task
from inscl.errors import InputError
from inscl.paths import cache_root
from inscl.replay.strategies import STRATEGIES

log = logging.getLogger(__name__)

ORDER_PRESETS = ("curriculum", "reverse", "random")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plan", help="plan the replay of a task stream and write per-stage training files",
        description="Plan replay for every stage of a task stream (InsCL and baselines) and write "
                    "replay/mixture JSONL, dataset_info.json (LLaMA-Factory) and plan.json.")
    add_tasks_argument(p)
    order = p.add_mutually_exclusive_group()
    order.add_argument("--order", metavar="A,B,C", help="task names in stream order (a subset is allowed)")
    order.add_argument("--order-preset", choices=ORDER_PRESETS,
                       help="curriculum: the sources' order; reverse; random (seeded by --seed)")
    p.add_argument("--strategy", default="inscl", metavar="NAME",
                   help=f"replay strategy: {', '.join(STRATEGIES)} (default inscl)")
    p.add_argument("--budget", type=int, default=200, help="replayed examples per previous task (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the replay selection (default 0)")
    p.add_argument("--distribution", choices=("real", "uniform"), default="real",
                   help="instruction weights in the Wasserstein distance (default real)")
    p.add_argument("--distance", choices=("auto", "exact", "sparse", "sinkhorn"), default="auto",
                   help="Wasserstein solver: exact (dense cost matrix, ~48 bytes per pair of instructions), "
                        "sparse (nearest-neighbour candidate graph, memory linear in the instructions, with an "
                        "error bound), sinkhorn, or auto (default: exact up to --max-exact instructions per "
                        "task, else sparse)")
    p.add_argument("--max-exact", type=int, default=2000, metavar="N",
                   help="largest task (distinct instructions) solved exactly under --distance auto (default 2000)")
    p.add_argument("--neighbors", type=int, default=16, metavar="K",
                   help="candidate edges per instruction of the sparse solver (default 16)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="Wasserstein pairs solved side by side on threads (default: the CPUs available); "
                        "the plan does not depend on it")
    p.add_argument("--max-memory", type=float, metavar="GB",
                   help="memory one exact/Sinkhorn distance may take; a larger one is refused up front "
                        "(default: the memory available)")
    emb = p.add_mutually_exclusive_group()
    emb.add_argument("--embeddings", type=Path, metavar="FILE",
                     help="precomputed instruction embeddings (.npz with texts/embeddings, or JSONL)")
    emb.add_argument("--encoder", metavar="SPEC",
                     help="instruction encoder: hashing, minilm (default), st:PATH, causal:PATH")
    p.add_argument("--tag-encoder", metavar="SPEC",
                   help="encoder for merging near-synonym tags (default: --encoder, or the --embeddings file)")
    tags = p.add_mutually_exclusive_group()
    tags.add_argument("--tags", type=Path, metavar="FILE",
                      help="intention tags: tag-cache JSONL {instruction, tags} or JSON {instruction: [tags]}")
    tags.add_argument("--tagger", metavar="SPEC", help="tagger: offline, openai:MODEL, local:PATH")
    add_cache_dir_argument(p, "cache of embeddings and tags")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of each task held out for evaluation (default 0.2)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the train/test split, kept apart from --seed so that seeds share splits")
    p.add_argument("--format", choices=("alpaca", "sharegpt", "messages", "prompt_completion"), default=None,
                   help="record format of the written files (default: the input's own; sharegpt when "
                        "conversations and alpaca tasks are mixed)")
    p.add_argument("--write-datasets", choices=("parquet", "arrow"), default=None,
                   help="also write each stage's mixture and replay as Parquet or a datasets folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (must not exist)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Runs ``inscl plan``; raises :class:`InputError` for any user-fixable problem."""
    from inscl.data import load_tasks

    if args.strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {args.strategy!r}; valid strategies: {', '.join(STRATEGIES)}",
                         field="--strategy")
    strategy = STRATEGIES[args.strategy]
    if args.budget < 0:
        raise InputError(f"must be >= 0, got {args.budget}", field="--budget")
    if args.seed < 0:
        raise InputError(f"must be >= 0, got {args.seed}", field="--seed")
    if args.split_seed < 0:
        raise InputError(f"must be >= 0, got {args.split_seed}", field="--split-seed")
    if args.max_exact < 1:
        raise InputError(f"must be >= 1, got {args.max_exact}", field="--max-exact")
    if args.neighbors < 1:
        raise InputError(f"must be >= 1, got {args.neighbors}", field="--neighbors")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"must be >= 1, got {args.jobs}", field="--jobs")
    if args.max_memory is not None and not args.max_memory > 0:
        raise InputError(f"must be > 0, got {args.max_memory}", field="--max-memory")
    if not 0.0 <= args.test_fraction < 1.0:
        raise InputError(f"must be in [0, 1), got {args.test_fraction}", field="--test-fraction")
    if strategy.needs_tags and args.tags is None and args.tagger is None:
        raise InputError(f"strategy {strategy.name!r} needs intention tags: pass --tags FILE (e.g. written by "
                         "'inscl tag') or --tagger SPEC (e.g. --tagger offline)", field="--tags")
    inputs = _check_paths(args)
    quiet = bool(getattr(args, "quiet", False))
    progress = False if quiet else None
    cache_dir = args.cache_dir or cache_root()

    tasks = _ordered(load_tasks(args.tasks, **read_options(args)), args)
    if not tasks:
        raise InputError("no tasks found", field="--tasks")
    trains, tests = zip(*(_split(t, args.test_fraction, args.split_seed) for t in tasks))
    for train, task in zip(trains, tasks):
        if not train.examples:
            raise InputError(f"task {task.name!r} has no training examples", field="--tasks",
                             path=(task.metadata.get("source_files") or [None])[0])

    # Heavy imports (POT, scikit-learn, the encoders) only once the data is known to be good.
    from inscl.data.export import write_plan
    from inscl.replay.planner import PlannerConfig, plan_stream

    config = PlannerConfig(strategy=strategy.name, budget=args.budget, seed=args.seed,
                           distribution=args.distribution, wasserstein=args.distance, max_exact=args.max_exact,
                           n_neighbors=args.neighbors, max_memory_gb=args.max_memory)
    encoder = _encoder(args, strategy, cache_dir, progress)
    tag_encoder = _tag_encoder(args, encoder, cache_dir, progress) if strategy.needs_tags else None
    tag_source = _tags(args, cache_dir, progress) if strategy.needs_tags else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        planner = plan_stream(trains, config, encoder, tag_source, tag_encoder=tag_encoder, progress=progress,
                              n_jobs=args.jobs)
    for message in dict.fromkeys(str(w.message) for w in caught):
        log.warning("%s", message)
    write_plan(planner, trains, args.out, test_tasks=tests, overwrite=args.force, inputs=inputs,
               format=args.format, datasets=args.write_datasets)
    if not quiet:
        print(summary_table(planner))
        from inscl.data.writers import choose_format

        print(f"wrote {args.out}/plan.json, dataset_info.json and {len(planner.stages)} stage folders "
              f"({choose_format(trains, args.format)} records)")
    return 0


def _check_paths(args: argparse.Namespace) -> list[Path]:
    """Every path argument, checked before any work: the inputs are readable, ``--out`` may
    be written (or replaced) and ``--cache-dir`` is a writable folder. Returns the inputs."""
    from inscl.outdir import check_output_dir
    from inscl.pathchecks import check_cache_dir, check_input

    inputs = [check_input(t, "--tasks") for t in args.tasks]
    for flag, path in (("--embeddings", args.embeddings), ("--tags", args.tags)):
        if path is not None:
            inputs.append(check_input(path, flag, "file"))
    if args.cache_dir is not None:
        check_cache_dir(args.cache_dir, "--cache-dir")
    check_output_dir(args.out, kind="plan", force=args.force, inputs=inputs)
    return inputs


def summary_table(planner: Any) -> str:
    """A plain-text table: one row per stage with its replay total and quotas."""
    rows = [("stage", "task", "train", "replay", "quotas")]
    for stage, task in zip(planner.stages, planner.tasks):
        quotas = ", ".join(f"{k}={v}" for k, v in stage.quotas.items()) or "-"
        rows.append((str(stage.index), stage.task, str(len(task)), str(stage.replay_total), quotas))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows)


def _ordered(tasks: list[Task], args: argparse.Namespace) -> list[Task]:
    """The tasks in the order asked by ``--order`` or ``--order-preset`` (default: source order).

    Presets follow the paper's three SuperNI category orders when every task is one of
    its categories; for any other stream, ``curriculum`` is the source order, ``reverse``
    its reverse and ``random`` a permutation seeded by ``--seed``.
    """
    by_name = {t.name: t for t in tasks}
    names = list(by_name)
    if args.order is not None:
        wanted = [n.strip() for n in args.order.split(",") if n.strip()]
        if not wanted:
            raise InputError("empty task list", field="--order")
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise InputError(f"unknown task {unknown[0]!r}; known tasks: {', '.join(names)}", field="--order")
        dup = next((n for i, n in enumerate(wanted) if n in wanted[:i]), None)
        if dup is not None:
            raise InputError(f"task {dup!r} is listed twice", field="--order")
        return [by_name[n] for n in wanted]
    preset = args.order_preset
    if preset is None:
        return tasks
    from inscl.data.superni import ORDERS

    if set(names) <= set(ORDERS.get(preset, ())):
        return [by_name[n] for n in ORDERS[preset] if n in by_name]
    if preset == "reverse":
        names.reverse()
    elif preset == "random":
        names.sort()  # independent of the source order
        random.Random(args.seed).shuffle(names)
    return [by_name[n] for n in names]


def _split(task: Task, fraction: float, seed: int) -> tuple[Task, Task]:
    """The task's own split when its files give one (``<name>.train/.test``), else a seeded split."""
    split = task.metadata.get("split")
    if isinstance(split, dict) and "train" in split and "test" in split:
        train_ids, test_ids = set(split["train"]), set(split["test"])
        return (task.subset([e for e in task.examples if e.id in train_ids]),
                task.subset([e for e in task.examples if e.id in test_ids]))
    return split_task(task, test_fraction=fraction, seed=seed)


def _encoder(args: argparse.Namespace, strategy: Any, cache_dir: Path, progress: bool | None) -> Any:
    from inscl.data.precomputed import load_embeddings

    if args.embeddings is not None:
        return load_embeddings(args.embeddings)
    if args.encoder is None and not (strategy.needs_embeddings or strategy.needs_tags):
        from inscl.encoders.hashing import HashingEncoder

        return HashingEncoder()  # never called: no need to load (or fail to load) the default model
    return _make_encoder(args.encoder or "minilm", cache_dir, progress, "--encoder")


def _tag_encoder(args: argparse.Namespace, encoder: Any, cache_dir: Path, progress: bool | None) -> Any:
    from inscl.data.precomputed import PrecomputedEncoder

    if args.tag_encoder is not None:
        return _make_encoder(args.tag_encoder, cache_dir, progress, "--tag-encoder")
    if isinstance(encoder, PrecomputedEncoder):
        # The embeddings file must then hold the tags too; the error says how to avoid that.
        return PrecomputedEncoder(encoder.vectors, id=encoder.id, source=encoder.source, kind="tag",
                                  hint="add the tags to the embeddings file or pass --tag-encoder SPEC")
    return None  # the planner merges tags with the instruction encoder


def _make_encoder(spec: str, cache_dir: Path, progress: bool | None, flag: str) -> Any:
    from inscl.encoders import make_encoder

    hint = "; pass --embeddings FILE or --encoder hashing instead" if spec == "minilm" else ""
    try:
        return make_encoder(spec, cache_dir=cache_dir, progress=progress)
    except InputError as exc:
        if exc.field in (None, "encoder"):  # name the flag the user typed
            raise InputError(exc.reason + hint, path=exc.path, line=exc.line, field=flag) from None
        raise
    except (ImportError, OSError) as exc:
        raise InputError(f"encoder {spec!r} is unavailable ({exc}); pass --embeddings FILE or "
                         f"{flag} hashing", field=flag) from None


def _tags(args: argparse.Namespace, cache_dir: Path, progress: bool | None) -> Any:
    """The raw tags: a table from ``--tags``, or a (cached) tagger from ``--tagger``."""
    from inscl.data.precomputed import load_tags

    if args.tags is not None:
        return load_tags(args.tags)
    from inscl.taggers import make_tagger

    try:
        return make_tagger(args.tagger, cache_dir=cache_dir, progress=progress)
    except InputError as exc:
        if exc.field in (None, "tagger"):
            raise InputError(exc.reason, path=exc.path, line=exc.line, field="--tagger") from None
        raise


if __name__ == "__main__":  # pragma: no cover
    from inscl.cli import main

    sys.exit(main(["plan", *sys.argv[1:]]))
