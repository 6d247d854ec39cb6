"""The paired replay protocol: data for it, and the paired comparison + power analysis of its runs.

Two steps around ``inscl run`` (see docs/benchmarks.md, "Does InsCL beat random replay?"):

    python bench/replay_protocol.py data runs/protocol-data          # many-instruction stream + SuperNI tags
    inscl run configs/protocol-many-smollm2.yaml                     # one config, several orders x seeds
    inscl run configs/protocol-superni-smollm2.yaml
    python bench/replay_protocol.py table runs/protocol-many-smollm2 runs/protocol-superni-smollm2

``table`` pairs the runs of each strategy by (order, seed) -- they share data and stage 1 --
and prints, per comparison (inscl - random, inscl - none, dynamic - random, insinfo -
random) and per metric (final RG, final average ROUGE-L x100, BWT x100), with the paired
statistics of :mod:`inscl.report.paired` (issue 13 part A): the number of pairs, the mean
difference, its 95% percentile-bootstrap interval (10,000 resamples, seed 0), the exact
two-sided sign-test and the Wilcoxon signed-rank p-values, the SD of the paired
differences, and the power analysis: the number of pairs a two-sided paired t-test at
alpha = 0.05 needs to detect a 3-point final-RG difference with 80% power at that SD
(:func:`inscl.report.paired.pairs_needed`, noncentral t).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COMPARISONS = (("inscl", "random"), ("inscl", "none"), ("dynamic", "random"), ("insinfo", "random"))
METRICS = {"final RG": ("final_rg", 1.0), "final avg ROUGE-L (x100)": ("avg_last", 100.0), "BWT (x100)": ("bwt", 100.0)}
RESAMPLES = 10_000
DELTA = 3.0  # RG points: the paper's InsCL - random gap after 16 categories


# ---- data ------------------------------------------------------------------------------------
def write_data(out: Path, superni: Path) -> None:
    """The many-instruction stream (``out/many``) and ``out/superni-tags.json`` ({instruction: [tags]})."""
    sys.path.insert(0, str(ROOT / "src"))
    from inscl.data.formats.superni import read_superni_task_file
    from inscl.demo.stream import write_many_stream

    paths = write_many_stream(out / "many", n_examples=160, seed=0)
    print(f"many-instruction stream: {len(paths)} tasks in {out / 'many'}")
    tags_file = superni / "llm-tags.jsonl"
    if tags_file.is_file():
        by_file = {}
        for line in tags_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                by_file[rec["task_file"]] = [t["tag"] if isinstance(t, dict) else str(t) for t in rec["tags"]]
        table: dict[str, list[str]] = {}
        for f in sorted((superni / "tasks").glob("*.json")):
            if f.name in by_file:  # keyed by the instruction the loader builds for this task file
                instruction = read_superni_task_file(f).examples[0].instruction
                table[instruction] = by_file[f.name]
        (out / "superni-tags.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"SuperNI LLM tags: {len(table)} instructions -> {out / 'superni-tags.json'}")


# ---- statistics: inscl.report.paired ----------------------------------------------------------


# ---- reading runs ------------------------------------------------------------------------------
def read_runs(run_dir: Path) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    """``{(order, seed): {strategy: {final_rg, avg_last, bwt}}}`` from ``<strategy>/<order>/seed<k>/results.json``."""
    out: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    files = sorted(run_dir.glob("*/*/seed*/results.json"))
    if not files:
        raise SystemExit(f"{run_dir}: no <strategy>/<order>/seed<k>/results.json")
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        m = doc["metrics"]
        key = (doc["order_name"], int(doc["seed"]))
        out.setdefault(key, {})[doc["strategy"]] = {
            "final_rg": m["final_rg"], "avg_last": m["avg_score"][-1], "bwt": m["bwt"]}
    return out


def paired_rows(runs: dict[tuple[str, int], dict[str, dict[str, float]]]) -> list[dict[str, object]]:
    sys.path.insert(0, str(ROOT / "src"))
    from inscl.report.paired import paired_stats, pairs_needed

    rows = []
    for a, b in COMPARISONS:
        keys = sorted(k for k, v in runs.items() if a in v and b in v)
        for label, (metric, scale) in METRICS.items():
            d = np.array([(runs[k][a][metric] - runs[k][b][metric]) * scale for k in keys
                          if runs[k][a][metric] is not None and runs[k][b][metric] is not None], dtype=float)
            row: dict[str, object] = {"comparison": f"{a} - {b}", "metric": label, "pairs": len(d)}
            if len(d):
                st = paired_stats(d)
                needed = None
                if metric == "final_rg" and math.isfinite(st.sd) and st.sd > 0:
                    needed = pairs_needed(st.sd, DELTA)
                row.update(mean=st.mean, sd=st.sd, boot_ci=(st.ci_low, st.ci_high), sign_p=st.sign_p,
                           wilcoxon_p=st.wilcoxon_p, wins=f"{st.positive}/{st.negative}", needed=needed)
            rows.append(row)
    return rows


def _f(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def markdown(rows: Sequence[dict[str, object]]) -> str:
    head = ("| comparison | metric | pairs | mean diff | 95% bootstrap CI | sign p | Wilcoxon p | +/- | sd of diffs | "
            "pairs for 3 RG pts |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if not r["pairs"]:
            lines.append(f"| {r['comparison']} | {r['metric']} | 0 | | | | | | | |")
            continue
        lo, hi = r["boot_ci"]  # type: ignore[misc]
        sd = float(r["sd"])  # type: ignore[arg-type]
        p_w = float(r["wilcoxon_p"])  # type: ignore[arg-type]
        lines.append(f"| {r['comparison']} | {r['metric']} | {r['pairs']} | {_f(r['mean'])} | "  # type: ignore[arg-type]
                     f"[{_f(lo)}, {_f(hi)}] | {r['sign_p']:.3f} | {'n/a' if not math.isfinite(p_w) else f'{p_w:.3f}'} | "
                     f"{r['wins']} | {'n/a' if not math.isfinite(sd) else f'{sd:.2f}'} | "
                     f"{r['needed'] if r['needed'] is not None else ''} |")
    return "\n".join(lines) + "\n"


def strategy_table(runs: dict[tuple[str, int], dict[str, dict[str, float]]]) -> str:
    strategies = sorted({s for v in runs.values() for s in v}, key=lambda s: (s != "none", s))
    lines = ["| (order, seed) | " + " | ".join(strategies) + " |", "|---|" + "---|" * len(strategies)]
    for key in sorted(runs):
        cells = [f"{runs[key][s]['final_rg']:.1f}" if s in runs[key] and runs[key][s]["final_rg"] is not None
                 else "" for s in strategies]
        lines.append(f"| {key[0]}, {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replay_composition(run_dir: Path) -> str:
    """What each strategy replays at the last stage, averaged over the pairs: quotas per previous
    task (min/max share), distinct instructions among the replayed examples, and for the
    many-instruction stream, the distinct intents (answer rules) covered."""
    instr: dict[str, str] = {}
    for f in sorted((run_dir / "data").glob("*.train.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                instr[str(rec["id"])] = rec["instruction"]
    rows: dict[str, list[tuple[float, float, int, int]]] = {}
    for plan_file in sorted(run_dir.glob("*/*/seed*/plan.json")):
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        stage = plan["stages"][-1]
        quotas = [q for q in stage.get("quotas", {}).values()]
        ids = [i for ids in stage.get("selected", {}).values() for i in ids]
        if not ids:
            continue
        total = sum(quotas) or 1
        rows.setdefault(plan["strategy"], []).append(
            (min(quotas) / total, max(quotas) / total, len(ids), len({instr.get(str(i), i) for i in ids})))
    lines = ["| strategy | pairs | replayed at stage T | smallest / largest task share | distinct instructions |",
             "|---|---|---|---|---|"]
    for strategy, vals in sorted(rows.items()):
        arr = np.array(vals, dtype=float)
        lines.append(f"| {strategy} | {len(vals)} | {arr[:, 2].mean():.1f} | {arr[:, 0].mean():.2f} / "
                     f"{arr[:, 1].mean():.2f} | {arr[:, 3].mean():.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="write the many-instruction stream and the SuperNI tags JSON")
    d.add_argument("out", type=Path)
    d.add_argument("--superni", type=Path, default=ROOT.parent / "shared" / "data" / "superni")
    t = sub.add_parser("table", help="paired comparison table + power analysis of run directories")
    t.add_argument("runs", nargs="+", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "data":
        write_data(args.out, args.superni)
        return 0
    for run_dir in args.runs:
        runs = read_runs(run_dir)
        complete = sum(1 for v in runs.values() if len(v) >= 2)
        print(f"## {run_dir.name}: {len(runs)} (order, seed) pairs ({complete} with 2+ strategies)\n")
        print("Final RG per run:\n")
        print(strategy_table(runs))
        print(markdown(paired_rows(runs)))
        print("Replay at the last stage (mean over pairs):\n")
        print(replay_composition(run_dir))
        if min((r["pairs"] for r in paired_rows(runs)), default=0) < 5:  # type: ignore[type-var]
            print("Note: fewer than 5 pairs for some comparisons: the intervals are wide and the sign test "
                  "cannot reach p < 0.05 (its smallest two-sided p with 5 pairs is 0.0625).\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
