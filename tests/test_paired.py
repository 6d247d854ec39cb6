"""Paired statistics on constructed runs with known differences (no model training).

Runs are results.json documents written here from seeded score matrices; the strategy
effects, seed effects and noise are chosen, so the true differences are known.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inscl.cli import main
from inscl.data.jsonio import write_json
from inscl.errors import InputError
from inscl.report.paired import (
    MIN_PAIRS,
    PairedRun,
    bootstrap_ci,
    compare_pair,
    label_order,
    pair_runs,
    paired_comparisons,
    paired_stats,
    pairs_needed,
    sign_test,
    simulated_power,
    t_power,
    wilcoxon_p,
)

TASKS = ["t_a", "t_b", "t_c", "t_d"]


def make_doc(strategy: str, seed: int, R: np.ndarray, order: list[str] | None = None,
             final_rg: float | None = None) -> dict[str, Any]:
    """A results.json document; avg score and BWT follow from R, final RG is given (or R's diagonal RG)."""
    order = order or TASKS
    T = len(order)
    rows = [[float(R[t, i]) if i <= t else None for i in range(T)] for t in range(T)]
    if final_rg is None:
        final_rg = float(100 * np.mean(R[-1] / np.diag(R)))
    return {"strategy": strategy, "seed": seed, "order": order, "budget": 4, "R": rows,
            "reference": {"kind": "diagonal", "scores": {}},
            "metrics": {"avg_score": [float(R[t, : t + 1].mean()) for t in range(T)], "final_rg": final_rg,
                        "relative_gain": [None] * (T - 1) + [final_rg],
                        "bwt": float(np.mean([R[-1, i] - R[i, i] for i in range(T - 1)]))}}


def constructed_runs(n_seeds: int, effect: dict[str, float], noise: float, seed_spread: float = 0.2,
                     rng_seed: int = 0, orders: list[list[str]] | None = None) -> list[dict[str, Any]]:
    """Each (order, seed) has a base matrix with a large shared offset; a strategy adds
    ``effect[strategy]`` to every score of the last stage plus independent noise."""
    rng = np.random.default_rng(rng_seed)
    docs = []
    for order in orders or [TASKS]:
        for seed in range(n_seeds):
            base = np.clip(rng.uniform(0.3, 0.6, (4, 4)) + rng.normal(0, seed_spread), 0.05, None)
            rg_base = rng.normal(90, 15)
            for strategy, shift in effect.items():
                R = base.copy()
                R[-1] += shift + rng.normal(0, noise, 4)
                docs.append(make_doc(strategy, seed, R, order, final_rg=rg_base + 100 * shift + rng.normal(0, 1)))
    return docs


def as_runs(docs: list[dict[str, Any]]) -> list[PairedRun]:
    return [PairedRun.from_document(d, source=f"doc{k}") for k, d in enumerate(docs)]


# ---- the core ---------------------------------------------------------------------------------

def test_bootstrap_follows_the_documented_procedure() -> None:
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.05, 0.4])
    rng = np.random.default_rng(7)
    means = d[rng.integers(0, d.size, size=(5000, d.size))].mean(axis=1)
    expected = np.quantile(means, [0.025, 0.975])
    assert bootstrap_ci(d, n_resamples=5000, seed=7) == (float(expected[0]), float(expected[1]))
    assert all(math.isnan(x) for x in bootstrap_ci([0.3]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=30), st.floats(-50, 50),
       st.integers(0, 2**31))
def test_interval_is_within_the_data_and_moves_with_it(d: list[float], shift: float, seed: int) -> None:
    low, high = bootstrap_ci(d, n_resamples=500, seed=seed)
    assert min(d) - 1e-9 <= low <= high <= max(d) + 1e-9
    moved = bootstrap_ci(np.array(d) + shift, n_resamples=500, seed=seed)
    assert moved == pytest.approx((low + shift, high + shift), abs=1e-6)
    flipped = bootstrap_ci(-np.array(d), n_resamples=500, seed=seed)
    assert flipped == pytest.approx((-high, -low), abs=1e-6)


def test_interval_covers_the_true_difference_at_its_nominal_rate() -> None:
    # 300 experiments of 25 pairs with true mean 0.8: a 95% percentile interval covers it ~93-95%
    rng = np.random.default_rng(1)
    covered = []
    for k in range(300):
        low, high = bootstrap_ci(rng.normal(0.8, 2.0, 25), n_resamples=2000, seed=k)
        covered.append(low <= 0.8 <= high)
    assert 0.89 <= np.mean(covered) <= 0.99
    # a 50% interval covers far less often: the level is not ignored
    narrow = [bootstrap_ci(rng.normal(0.8, 2.0, 25), n_resamples=2000, confidence=0.5, seed=k)
              for k in range(200)]
    assert 0.35 <= np.mean([lo <= 0.8 <= hi for lo, hi in narrow]) <= 0.65


def test_tests_on_known_vectors() -> None:
    assert sign_test([1, 2, 3, 4, 5, 6]) == pytest.approx(2 / 64)
    assert sign_test([1, -1, 0, 0]) == 1.0 and sign_test([0, 0]) == 1.0
    assert wilcoxon_p([1, 2, 3, 4, 5, 6]) == pytest.approx(2 / 64)  # exact: only the all-positive ranking
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0
    s = paired_stats([0.5, np.nan, -0.5, 1.0])
    assert (s.n, s.positive, s.negative, s.zero) == (3, 2, 1, 0)
    assert s.mean == pytest.approx(1 / 3) and s.sd == pytest.approx(np.std([0.5, -0.5, 1.0], ddof=1))


def test_power_analysis_matches_known_values_and_simulation() -> None:
    # dz = 1 needs 10 pairs, dz = 0.5 needs 34 (paired t, alpha 0.05, power 0.8; G*Power's values)
    assert pairs_needed(sd=1.0, delta=1.0) == 10
    assert pairs_needed(sd=2.0, delta=1.0) == 34
    assert t_power(10, 1.0, 1.0) == pytest.approx(0.803, abs=0.002)
    assert pairs_needed(sd=6.0, delta=3.0, power=0.9) > pairs_needed(sd=6.0, delta=3.0)
    observed = np.random.default_rng(3).normal(0.0, 6.0, 40)
    n = pairs_needed(float(np.std(observed, ddof=1)), 3.0)
    power = simulated_power(observed, 3.0, n, n_sim=300, n_resamples=1000, seed=0)
    assert power == pytest.approx(0.8, abs=0.1)
    assert simulated_power(observed, 3.0, max(2, n // 4), n_sim=300, n_resamples=1000) < 0.6
    with pytest.raises(ValueError, match="sd"):
        pairs_needed(sd=0.0, delta=3.0)


# ---- pairing and comparisons -------------------------------------------------------------------

def test_known_difference_is_inside_the_interval_and_pairing_removes_seed_spread() -> None:
    # the strategies differ by 0.03 on every final score; the seeds differ by ~0.2: unpaired
    # spreads overlap, the paired interval still excludes 0 and contains the truth
    docs = constructed_runs(12, {"random": 0.0, "inscl": 0.03}, noise=0.01, seed_spread=0.2)
    np.random.default_rng(0).shuffle(docs)  # pairing is by key, not by position
    (c,) = paired_comparisons(as_runs(docs))
    assert c.name == "inscl - random" and c.n_pairs == 12 and not c.notes
    avg = c.metrics["final_avg_score"]
    assert avg.ci_low <= 0.03 <= avg.ci_high and avg.ci_low > 0
    assert avg.sign_p < 0.01 and avg.wilcoxon_p < 0.01
    rg = c.metrics["final_rg"]
    assert rg.ci_low <= 3.0 <= rg.ci_high and rg.excludes_zero
    for task, stats in c.tasks.items():
        assert stats.n == 12 and stats.ci_low <= 0.03 <= stats.ci_high, task
    # unpaired: the mean ± std of each strategy overlap widely
    finals = {s: [np.mean(d["R"][-1]) for d in docs if d["strategy"] == s] for s in ("random", "inscl")}
    assert np.std(finals["random"]) > 3 * 0.03


def test_zero_difference_gives_an_interval_around_zero() -> None:
    docs = constructed_runs(10, {"random": 0.0, "inscl": 0.0}, noise=0.02)
    (c,) = paired_comparisons(as_runs(docs))
    avg = c.metrics["final_avg_score"]
    assert avg.ci_low < 0 < avg.ci_high and not avg.excludes_zero
    assert abs(avg.mean) < 0.02 and avg.ci_high - avg.ci_low < 0.05
    # identical runs: exactly zero, p = 1
    same = [dict(d, strategy="dynamic") for d in docs if d["strategy"] == "random"] + \
        [d for d in docs if d["strategy"] == "random"]
    (c,) = paired_comparisons(as_runs(same))
    for stats in c.metrics.values():
        assert (stats.mean, stats.ci_low, stats.ci_high, stats.sign_p, stats.wilcoxon_p) == (0, 0, 0, 1, 1)
        assert stats.zero == 10


def test_deterministic_under_the_seed() -> None:
    runs = as_runs(constructed_runs(8, {"none": -0.05, "random": 0.0, "inscl": 0.02}, noise=0.03))
    first = [c.to_dict() for c in paired_comparisons(runs, seed=5)]
    again = [c.to_dict() for c in paired_comparisons(list(reversed(runs)), seed=5)]
    other = [c.to_dict() for c in paired_comparisons(runs, seed=6)]
    assert json.dumps(first) == json.dumps(again)
    assert json.dumps(first) != json.dumps(other)
    assert [c["difference"] for c in first] == ["random - none", "inscl - random", "inscl - none"]


def test_pairs_are_keyed_by_order_and_seed_and_unmatched_runs_are_reported() -> None:
    reverse = TASKS[::-1]
    docs = constructed_runs(6, {"random": 0.0, "inscl": 0.01}, noise=0.01, orders=[TASKS, reverse])
    # inscl lacks seed 5 of the reverse order; random lacks seed 4 of the curriculum order
    docs = [d for d in docs if not (d["strategy"] == "inscl" and d["order"] == reverse and d["seed"] == 5)
            and not (d["strategy"] == "random" and d["order"] == TASKS and d["seed"] == 4)]
    runs = as_runs(docs)
    pairs, only_a, only_b = pair_runs([r for r in runs if r.label == "random"], [r for r in runs if r.label == "inscl"])
    assert len(pairs) == 10 and all(a.key == b.key for a, b in pairs)
    assert only_a == [(tuple(reverse), 5)] and only_b == [(tuple(TASKS), 4)]
    c = compare_pair([r for r in runs if r.label == "random"], [r for r in runs if r.label == "inscl"])
    assert c.to_dict()["unmatched"] == {"random": [{"order": reverse, "seed": 5}],
                                        "inscl": [{"order": TASKS, "seed": 4}]}
    assert any("left out" in note and "1 run(s) of random" in note for note in c.notes)
    # per-task differences are by task name, whatever the position of the task in the order
    assert set(c.tasks) == set(TASKS) and all(s.n == 10 for s in c.tasks.values())
    with pytest.raises(InputError, match="same task order"):
        pair_runs(runs[:1] * 2, runs[1:2])


def test_fewer_than_five_pairs_get_a_note() -> None:
    docs = constructed_runs(MIN_PAIRS - 1, {"random": 0.0, "inscl": 0.05}, noise=0.01)
    (c,) = paired_comparisons(as_runs(docs))
    assert c.n_pairs == 4 and any("fewer than 5" in note for note in c.notes)
    docs = constructed_runs(MIN_PAIRS, {"random": 0.0, "inscl": 0.05}, noise=0.01)
    (c,) = paired_comparisons(as_runs(docs))
    assert not c.notes


def test_label_order_puts_baselines_first() -> None:
    runs = as_runs(constructed_runs(1, {"inscl": 0.0, "insinfo": 0.0, "random": 0.0, "none": 0.0}, noise=0.0))
    assert label_order(runs) == ["none", "random", "insinfo", "inscl"]
    assert label_order(runs, ["inscl", "none"]) == ["inscl", "none", "random", "insinfo"]


# ---- compare CLI ----------------------------------------------------------------------------------

def _write_run(root: Path, docs: list[dict[str, Any]]) -> Path:
    for d in docs:
        write_json(root / d["strategy"] / f"seed{d['seed']}" / "results.json", d)
    return root


def test_compare_cli_prints_and_writes_the_paired_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = constructed_runs(6, {"none": -0.1, "random": 0.0, "inscl": 0.03}, noise=0.01)
    run = _write_run(tmp_path / "run", docs)
    assert main(["compare", str(run)]) == 0
    text = capsys.readouterr().out
    assert "final RG" in text and "inscl - random" in text and "95% CI" in text and "Wilcoxon p" in text
    assert "t_a" not in text  # per-task rows only with --per-task
    assert main(["compare", str(run), "--per-task"]) == 0
    assert "t_a" in capsys.readouterr().out

    assert main(["compare", str(run), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format_version"] == 2 and sorted(r["strategy"] for r in doc["rows"]) == ["inscl", "none", "random"]
    paired = doc["paired"]
    assert (paired["n_resamples"], paired["confidence"], paired["interval"]) == (10000, 0.95, "percentile bootstrap")
    comp = {c["difference"]: c for c in paired["comparisons"]}
    assert set(comp) == {"random - none", "inscl - random", "inscl - none"}
    # recompute one interval from the files, as documented (pairs sorted by (order, seed))
    c = comp["inscl - random"]
    final = {(d["strategy"], d["seed"]): d["metrics"]["bwt"] for d in docs}
    d = np.array([final["inscl", p["seed"]] - final["random", p["seed"]] for p in c["pairs"]])
    means = d[np.random.default_rng(0).integers(0, d.size, size=(10000, d.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    assert (c["metrics"]["bwt"]["ci_low"], c["metrics"]["bwt"]["ci_high"]) == (float(low), float(high))
    assert c["metrics"]["final_avg_score"]["mean"] == pytest.approx(0.03, abs=0.01)
    assert c["metrics"]["final_avg_score"]["ci_low"] > 0 and c["n_pairs"] == 6

    assert main(["compare", str(run), "--markdown", "--seed", "3", "--resamples", "500"]) == 0
    md = capsys.readouterr().out
    assert "| inscl - random | final RG |" in md and "500 resamples, seed 3" in md


def test_compare_cli_notes_few_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write_run(tmp_path / "run", constructed_runs(2, {"random": 0.0, "inscl": 0.03}, noise=0.01))
    assert main(["compare", str(run)]) == 0
    assert "only 2 pair(s) (fewer than 5)" in capsys.readouterr().out
    assert main(["compare", str(run), "--resamples", "0"]) == 2


# ---- the report over several task orders ------------------------------------------------------------

def test_report_pairs_runs_over_orders(tmp_path: Path) -> None:
    from inscl.report import build_report

    reverse = TASKS[::-1]
    docs = constructed_runs(3, {"random": 0.0, "inscl": 0.02}, noise=0.01, orders=[TASKS, reverse])
    for d in docs:  # a layout with the order in the path; the pairing reads `order` from the file
        name = "curriculum" if d["order"] == TASKS else "reverse"
        write_json(tmp_path / "run" / d["strategy"] / name / f"seed{d['seed']}" / "results.json", d)
    files = build_report([tmp_path / "run"], tmp_path / "report")
    (c,) = json.loads(files.paired.read_text())["comparisons"]  # type: ignore[union-attr]
    assert c["difference"] == "inscl - random" and c["n_pairs"] == 6 and c["notes"] == []
    assert sorted((tuple(p["order"]), p["seed"]) for p in c["pairs"]) == sorted(
        (tuple(o), s) for o in (TASKS, reverse) for s in range(3))
    summary = files.summary.read_text()
    assert "0,1,2 × 2 orders" in summary
    # the per-task final scores are read through each run's own order
    section = summary.split("### ROUGE-L after the last stage")[1].split("###")[0]
    row = next(line for line in section.splitlines() if line.startswith("| inscl |"))
    cells = [float(x.split("±")[0]) for x in row.strip("|").split("|")[1:]]
    finals = {t: np.mean([d["R"][-1][d["order"].index(t)] for d in docs if d["strategy"] == "inscl"]) for t in TASKS}
    assert cells == pytest.approx([finals[t] for t in TASKS], abs=6e-5)
