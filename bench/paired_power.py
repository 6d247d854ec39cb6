"""Power analysis from finished runs: how many (order, seed) pairs resolve a given difference?

Reads the runs' ``results.json`` files, computes the paired differences ``B - A`` (see
docs/report.md) and, from their observed SD, the number of pairs a two-sided paired t-test
needs to detect a true difference ``delta`` at alpha 0.05 with 80% power, and the power
of the bootstrap interval at that size simulated from the observed differences.

    python bench/paired_power.py runs/demo5 --a random --b inscl --delta-rg 3

Figures (the table) are printed last.
"""

from __future__ import annotations

import argparse
import math


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--a", default="random", help="baseline label (default random)")
    p.add_argument("--b", default="inscl", help="compared label (default inscl)")
    p.add_argument("--delta-rg", type=float, default=3.0, help="difference to resolve in final RG points")
    p.add_argument("--delta-score", type=float, default=0.03, help="... in final avg score / BWT (ROUGE-L)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--n-sim", type=int, default=1000, help="simulated experiments for the bootstrap power")
    args = p.parse_args(argv)

    from inscl.report.paired import (
        METRIC_NAMES,
        PairedRun,
        compare_pair,
        pair_runs,
        pairs_needed,
        simulated_power,
    )
    from inscl.report.results import load_results

    runs = [PairedRun.from_result(r) for r in load_results(args.run_dirs)]
    c = compare_pair([r for r in runs if r.label == args.a], [r for r in runs if r.label == args.b])
    pairs = pair_runs([r for r in runs if r.label == args.a], [r for r in runs if r.label == args.b])[0]
    lines = [f"{c.name}: {c.n_pairs} pairs; alpha {args.alpha}, power {args.power}", "",
             ("| metric | pairs | mean diff | 95% CI | SD of diffs | delta | pairs needed (paired t) "
              "| bootstrap power at that size |"), "|---|---|---|---|---|---|---|---|"]
    for metric, stats in c.metrics.items():
        delta = args.delta_rg if metric == "final_rg" else args.delta_score
        if stats.n < 2 or not math.isfinite(stats.sd) or stats.sd == 0:
            lines.append(f"| {METRIC_NAMES[metric]} | {stats.n} | – | – | – | {delta:g} | – | – |")
            continue
        needed = pairs_needed(stats.sd, delta, args.alpha, args.power)
        diffs = [rb.values[metric] - ra.values[metric] for ra, rb in pairs]  # nan ones are dropped
        power = simulated_power(diffs, delta, needed, n_sim=args.n_sim)
        lines.append(f"| {METRIC_NAMES[metric]} | {stats.n} | {stats.mean:+.4g} | [{stats.ci_low:+.4g}, "
                     f"{stats.ci_high:+.4g}] | {stats.sd:.4g} | {delta:g} | {needed} | {power:.2f} |")
    lines += [f"Note: {n}" for n in c.notes]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
