"""The paired replay protocol: data for it, and the paired comparison + power analysis of its runs.

Two steps around ``inscl run`` (see docs/benchmarks.md, "Does InsCL beat random replay?"):

    python bench/replay_protocol.py data runs/protocol-data          # many-instruction stream + SuperNI tags
    inscl run configs/protocol-many-smollm2.yaml                     # one config, several orders x seeds
    inscl run configs/protocol-superni-smollm2.yaml
    python bench/replay_protocol.py table runs/protocol-many-smollm2 runs/protocol-superni-smollm2

``table`` pairs the runs of each strategy by (order, seed) -- they share data and stage 1 --
and prints, per comparison (inscl - random, inscl - none, dynamic - random, insinfo -
random) and per metric (final RG, final average ROUGE-L, BWT): the number of pairs, the
mean difference, its 95% paired-t interval, a seeded percentile-bootstrap 95% interval
(10,000 resamples, seed 0), the exact two-sided sign-test p-value, and the power
analysis: the standard deviation of the paired differences and the number of pairs a
two-sided paired t-test at alpha = 0.05 needs to detect a 3-point RG difference with 80%
power at that standard deviation. It reads results.json files only (numpy and scipy, no
inscl import), so it is also an independent recomputation of the runs' final metrics.
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


# ---- statistics ---------------------------------------------------------------------------------
def sign_test_p(diffs: np.ndarray) -> float:
    """Exact two-sided sign test (zeros dropped)."""
    pos, neg = int((diffs > 0).sum()), int((diffs < 0).sum())
    n = pos + neg
    if n == 0:
        return 1.0
    k = min(pos, neg)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def bootstrap_ci(diffs: np.ndarray, seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def t_ci(diffs: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
    return float(diffs.mean() - half), float(diffs.mean() + half)


def pairs_needed(sd: float, delta: float = DELTA, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Smallest n with n >= ((t_{1-a/2, n-1} + t_{power, n-1}) * sd / delta)^2 (paired t-test)."""
    from scipy import stats

    if not math.isfinite(sd):
        return None
    for n in range(2, 100_000):
        need = ((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / delta) ** 2
        if n >= need:
            return n
    return None


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
    rows = []
    for a, b in COMPARISONS:
        keys = sorted(k for k, v in runs.items() if a in v and b in v)
        for label, (metric, scale) in METRICS.items():
            d = np.array([(runs[k][a][metric] - runs[k][b][metric]) * scale for k in keys
                          if runs[k][a][metric] is not None and runs[k][b][metric] is not None], dtype=float)
            row: dict[str, object] = {"comparison": f"{a} - {b}", "metric": label, "pairs": len(d)}
            if len(d):
                sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
                row.update(mean=float(d.mean()), sd=sd, t_ci=t_ci(d), boot_ci=bootstrap_ci(d),
                           sign_p=sign_test_p(d), wins=f"{int((d > 0).sum())}/{int((d < 0).sum())}",
                           needed=pairs_needed(sd) if metric == "final_rg" else None)
            rows.append(row)
    return rows


def _f(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def markdown(rows: Sequence[dict[str, object]]) -> str:
    head = ("| comparison | metric | pairs | mean diff | 95% t-CI | 95% bootstrap CI | sign p | +/- | sd | "
            "pairs for 3 RG pts |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if not r["pairs"]:
            lines.append(f"| {r['comparison']} | {r['metric']} | 0 | | | | | | | |")
            continue
        t_lo, t_hi = r["t_ci"]  # type: ignore[misc]
        b_lo, b_hi = r["boot_ci"]  # type: ignore[misc]
        sd = r["sd"]
        lines.append(f"| {r['comparison']} | {r['metric']} | {r['pairs']} | {_f(r['mean'])} | "  # type: ignore[arg-type]
                     f"[{_f(t_lo)}, {_f(t_hi)}] | [{_f(b_lo)}, {_f(b_hi)}] | {r['sign_p']:.3f} | {r['wins']} | "
                     f"{'n/a' if not math.isfinite(sd) else f'{sd:.2f}'} | "  # type: ignore[arg-type]
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
        if min((r["pairs"] for r in paired_rows(runs)), default=0) < 5:  # type: ignore[type-var]
            print("Note: fewer than 5 pairs for some comparisons: the intervals are wide and the sign test "
                  "cannot reach p < 0.05 (its smallest two-sided p with 5 pairs is 0.0625).\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
