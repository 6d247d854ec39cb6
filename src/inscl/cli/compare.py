"""``inscl compare RUN_DIR...``: Relative Gain per stage and final, per strategy, over seeds, and the
paired differences between strategies with bootstrap intervals."""

from __future__ import annotations

import argparse
from typing import Any

from inscl.errors import InputError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare", help="table of Relative Gain per strategy (mean ± std) and paired differences with intervals",
        description="Reads <strategy>/seed<k>/results.json under each RUN_DIR written by `inscl run`. Prints "
                    "the mean ± std table, then for every pair of strategies the difference in final RG, final "
                    "average score and BWT over runs paired by (task order, seed): mean, 95%% percentile "
                    "bootstrap interval, sign test and Wilcoxon signed-rank p-values.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object (rows and paired differences)")
    fmt.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--per-task", action="store_true", help="also print each task's final score difference")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    p.add_argument("--resamples", type=int, default=10_000, metavar="N",
                   help="bootstrap resamples (default 10000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inscl.report.paired import paired_comparisons, paired_document
    from inscl.runner.compare import (
        comparison_rows,
        format_json,
        format_markdown,
        format_paired,
        format_text,
        load_results,
        paired_runs,
    )

    if args.resamples < 1:
        raise InputError(f"must be >= 1, got {args.resamples}", field="--resamples")
    results = load_results(args.run_dirs)
    rows = comparison_rows(results)
    opts = {"n_resamples": args.resamples, "seed": args.seed}
    comparisons = paired_comparisons(paired_runs(results), **opts)
    if args.json:
        print(format_json(rows, paired_document(comparisons, **opts)), end="")
        return 0
    print(format_markdown(rows) if args.markdown else format_text(rows))
    print(format_paired(comparisons, markdown=args.markdown, per_task=args.per_task, **opts), end="")
    return 0
