"""Paired comparison of replay strategies: differences over runs that share data and stage 1.

Two runs are a *pair* when they have the same key ``(order, seed)``: the same task order
and the same training seed, hence (within one run directory) the same data, the same
shared stage 1 and the same per-stage seeds. Comparing strategy ``b`` with strategy ``a``
pair by pair removes the seed-to-seed and order-to-order spread that a mean ± std table
keeps, so a few pairs can show a difference that two overlapping spreads hide.

For every metric (final Relative Gain, final average score, BWT, and each task's final
score ``R[T][i]``) the differences ``b - a`` over the pairs give (:func:`paired_stats`):

* the mean difference and the sample SD of the differences;
* a 95% **percentile bootstrap** interval of the mean (:data:`N_RESAMPLES` resamples of
  the pairs, seeded; see :func:`bootstrap_ci` for the exact procedure, so that anyone can
  recompute it from the ``results.json`` files);
* a two-sided sign test (exact binomial, zero differences dropped) and a two-sided
  Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon`` defaults);
* the number of pairs, and a note when there are fewer than :data:`MIN_PAIRS`.

Runs whose key has no counterpart in the other strategy are left out of that comparison
and listed as ``unmatched``. :func:`pairs_needed` and :func:`simulated_power` size an
experiment: how many pairs resolve a difference ``delta`` given the observed SD.

The functional core works on plain arrays; :class:`PairedRun` is the only view of a run
it needs (built from a ``results.json`` document or a report ``RunResult``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from inscl.errors import InputError

if TYPE_CHECKING:
    from inscl.report.results import RunResult

FORMAT_VERSION = 1
N_RESAMPLES = 10_000
CONFIDENCE = 0.95
SEED = 0
MIN_PAIRS = 5
INTERVAL = "percentile bootstrap"
METRICS = ("final_rg", "final_avg_score", "bwt")
METRIC_NAMES = {"final_rg": "final RG", "final_avg_score": "final avg score", "bwt": "BWT"}

Key = tuple[tuple[str, ...], int]  # (task order, seed)


# ---- the functional core: statistics of one vector of paired differences -----------------

@dataclass(frozen=True)
class DifferenceStats:
    """Summary of paired differences ``b - a`` (``nan`` where undefined, e.g. an interval of 1 pair)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    sign_p: float
    wilcoxon_p: float
    positive: int
    negative: int
    zero: int

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in self.__dict__.items()}

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (strictly)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _defined(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    return array[~np.isnan(array)]


def bootstrap_ci(differences: Sequence[float] | np.ndarray, *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``differences`` (kept in the given order).

    Exactly::

        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_resamples, n))
        means = d[idx].mean(axis=1)
        low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])

    ``(nan, nan)`` with fewer than 2 differences (one pair has no spread to resample).
    """
    _check_resampling(n_resamples, confidence)
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or np.isnan(d).any():
        raise ValueError("differences must be a 1-D array without nan")
    n = d.size
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    means = d[idx].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def sign_test(differences: Sequence[float] | np.ndarray) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) on the non-zero differences; 1.0 if none."""
    from scipy.stats import binomtest

    d = np.asarray(differences, dtype=float)
    positive, negative = int(np.sum(d > 0)), int(np.sum(d < 0))
    if positive + negative == 0:
        return 1.0
    return float(binomtest(positive, positive + negative, 0.5, alternative="two-sided").pvalue)


def wilcoxon_p(differences: Sequence[float] | np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value (scipy defaults: zeros dropped); 1.0 if all are zero."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=float)
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    with warnings.catch_warnings():  # scipy warns that tiny samples use the exact distribution
        warnings.simplefilter("ignore")
        return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_stats(differences: Sequence[float] | np.ndarray, *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = SEED) -> DifferenceStats:
    """Mean, SD, bootstrap interval, sign and Wilcoxon p-values of paired differences.

    ``nan`` entries (a metric one of the two runs lacks) are dropped before anything else.
    """
    d = _defined(np.asarray(differences, dtype=float).ravel())
    n = int(d.size)
    low, high = bootstrap_ci(d, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return DifferenceStats(
        n=n, mean=float(d.mean()) if n else math.nan, sd=float(d.std(ddof=1)) if n > 1 else math.nan,
        ci_low=low, ci_high=high, sign_p=sign_test(d) if n else math.nan,
        wilcoxon_p=wilcoxon_p(d) if n else math.nan,
        positive=int(np.sum(d > 0)), negative=int(np.sum(d < 0)), zero=int(np.sum(d == 0)))


def _check_resampling(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


# ---- power analysis -------------------------------------------------------------------------

def t_power(n_pairs: int, sd: float, delta: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with ``n_pairs`` pairs to detect a true mean ``delta``.

    ``P(|T| > t_{1-alpha/2, n-1})`` with ``T`` noncentral t (``n - 1`` df, noncentrality
    ``delta / sd * sqrt(n)``).
    """
    from scipy.stats import nct, t

    _check_power_args(sd, delta, alpha, 0.5)
    if n_pairs < 2:
        return 0.0
    df = n_pairs - 1
    nc = abs(delta) / sd * math.sqrt(n_pairs)
    critical = t.ppf(1 - alpha / 2, df)
    return float(nct.sf(critical, df, nc) + nct.cdf(-critical, df, nc))


def pairs_needed(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, max_pairs: int = 100_000) -> int:
    """Smallest number of pairs whose paired t-test reaches ``power`` for a true difference ``delta``.

    ``sd`` is the standard deviation of the paired differences (e.g. ``DifferenceStats.sd``
    from a pilot run), in the unit of ``delta`` (RG points for final RG). Raises
    ``ValueError`` when even ``max_pairs`` pairs are not enough.
    """
    _check_power_args(sd, delta, alpha, power)
    low, high = 2, 2
    while t_power(high, sd, delta, alpha) < power:  # power grows with n: double, then bisect
        low, high = high, high * 2
        if high > max_pairs:
            raise ValueError(f"more than {max_pairs} pairs needed (sd={sd}, delta={delta})")
    while low < high:
        middle = (low + high) // 2
        if t_power(middle, sd, delta, alpha) >= power:
            high = middle
        else:
            low = middle + 1
    return high


def simulated_power(differences: Sequence[float] | np.ndarray, delta: float, n_pairs: int, *,
                    n_sim: int = 1000, n_resamples: int = 2000, confidence: float = CONFIDENCE,
                    seed: int = SEED) -> float:
    """Power of the bootstrap interval, by simulation from observed paired differences.

    Each of ``n_sim`` simulated experiments draws ``n_pairs`` differences with replacement
    from the observed ones shifted to mean ``delta`` (their spread and shape, a true
    difference ``delta``) and counts as a detection when its percentile bootstrap interval
    (``n_resamples`` resamples) excludes 0. Returns the detection rate.
    """
    d = _defined(np.asarray(differences, dtype=float).ravel())
    if d.size < 2:
        raise ValueError("need at least 2 observed differences to simulate from")
    if n_pairs < 2 or n_sim < 1:
        raise ValueError(f"n_pairs must be >= 2 and n_sim >= 1, got {n_pairs} and {n_sim}")
    _check_resampling(n_resamples, confidence)
    noise = d - d.mean() + delta
    rng = np.random.default_rng(seed)
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    hits = 0
    for _ in range(n_sim):
        sample = noise[rng.integers(0, d.size, n_pairs)]
        means = sample[rng.integers(0, n_pairs, size=(n_resamples, n_pairs))].mean(axis=1)
        low, high = np.quantile(means, q)
        hits += bool(low > 0 or high < 0)
    return hits / n_sim


def _check_power_args(sd: float, delta: float, alpha: float, power: float) -> None:
    if not (isinstance(sd, (int, float)) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a positive number, got {sd!r}")
    if not (isinstance(delta, (int, float)) and math.isfinite(delta) and delta != 0):
        raise ValueError(f"delta must be a non-zero number, got {delta!r}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha!r} and {power!r}")


# ---- runs and their pairing -------------------------------------------------------------------

@dataclass(frozen=True)
class PairedRun:
    """What the paired comparison needs from one run: its label, key and final metrics.

    ``values`` maps each of :data:`METRICS` to a float (``nan`` when undefined, e.g. a
    final RG with every reference 0); ``final_scores`` maps each task to ``R[T][i]``, its
    score after the last stage. ``group`` names the run directory (for notes only).
    """

    label: str
    strategy: str
    order: tuple[str, ...]
    seed: int
    values: Mapping[str, float]
    final_scores: Mapping[str, float]
    source: str = ""
    group: str = ""

    @property
    def key(self) -> Key:
        return self.order, self.seed

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, label: str | None = None, source: str = "",
                      group: str = "") -> PairedRun:
        """From a ``results.json`` document (``strategy``, ``seed``, ``order``, ``R``, ``metrics``)."""
        for key in ("strategy", "seed", "order", "R"):
            if key not in doc:
                raise InputError("missing required field", path=source or None, field=key)
        order = doc["order"]
        if not isinstance(order, list) or not order or not all(isinstance(t, str) for t in order):
            raise InputError("expected a non-empty list of task names", path=source or None, field="order")
        seed = doc["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError("expected an integer", path=source or None, field="seed")
        R = _matrix(doc["R"], len(order), source)
        metrics = doc.get("metrics") if isinstance(doc.get("metrics"), Mapping) else {}
        return cls(label=label or str(doc["strategy"]), strategy=str(doc["strategy"]), order=tuple(order),
                   seed=seed, values=final_values(R, metrics), final_scores=dict(zip(order, R[-1].tolist())),
                   source=source, group=group)

    @classmethod
    def from_result(cls, result: RunResult, group: str = "") -> PairedRun:
        """From a report :class:`~inscl.report.results.RunResult` (already validated)."""
        return cls(label=result.label, strategy=result.strategy, order=tuple(result.order), seed=result.seed,
                   values=final_values(result.R, result.metrics),
                   final_scores=dict(zip(result.order, result.R[-1].tolist())), source=str(result.path),
                   group=group)


def _matrix(raw: Any, n: int, source: str) -> np.ndarray:
    out = np.full((n, n), np.nan)
    if not isinstance(raw, list) or len(raw) != n:
        raise InputError(f"expected {n} rows (one per stage)", path=source or None, field="R")
    for t, row in enumerate(raw):
        if not isinstance(row, list) or len(row) > n:
            raise InputError(f"expected a list of at most {n} scores", path=source or None, field=f"R[{t}]")
        for i, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError("expected a number or null", path=source or None, field=f"R[{t}][{i}]")
            out[t, i] = float(value)
    return out


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def final_values(R: np.ndarray, metrics: Mapping[str, Any]) -> dict[str, float]:
    """Final RG, final average score and BWT of one run, as the runner wrote them.

    Falls back on ``R`` where the file lacks a metric: the final average score is the
    mean of the last row, BWT is ``mean_{i<T} (R[T][i] - R[i][i])``; the final RG falls back
    on the last entry of ``relative_gain`` (it needs the reference scores).
    """
    T = R.shape[0]
    final_rg = _number(metrics.get("final_rg"))
    rg = metrics.get("relative_gain")
    if math.isnan(final_rg) and isinstance(rg, list) and rg:
        final_rg = _number(rg[-1])
    avg = metrics.get("avg_score")
    final_avg = _number(avg[-1]) if isinstance(avg, list) and avg else math.nan
    if math.isnan(final_avg) and np.any(~np.isnan(R[-1])):
        final_avg = float(np.nanmean(R[-1]))
    bwt = _number(metrics.get("bwt"))
    if math.isnan(bwt):
        bwt = float(np.mean([R[T - 1, i] - R[i, i] for i in range(T - 1)])) if T > 1 else 0.0
    return {"final_rg": final_rg, "final_avg_score": final_avg, "bwt": bwt}


def key_dict(key: Key) -> dict[str, Any]:
    return {"order": list(key[0]), "seed": key[1]}


def pair_runs(a_runs: Sequence[PairedRun], b_runs: Sequence[PairedRun]
              ) -> tuple[list[tuple[PairedRun, PairedRun]], list[Key], list[Key]]:
    """Matches runs by ``(order, seed)``: ``(pairs sorted by key, keys only in a, keys only in b)``.

    Raises :class:`InputError` when one side holds the same key twice.
    """
    by_key = [_index(a_runs), _index(b_runs)]
    common = sorted(set(by_key[0]) & set(by_key[1]))
    pairs = [(by_key[0][k], by_key[1][k]) for k in common]
    return (pairs, sorted(set(by_key[0]) - set(by_key[1])), sorted(set(by_key[1]) - set(by_key[0])))


def _index(runs: Sequence[PairedRun]) -> dict[Key, PairedRun]:
    out: dict[Key, PairedRun] = {}
    for r in runs:
        if r.key in out:
            raise InputError(f"two runs of {r.label!r} with seed {r.seed} and the same task order "
                             f"(the other is {out[r.key].source or 'unnamed'})", path=r.source or None, field="seed")
        out[r.key] = r
    return out


@dataclass
class PairComparison:
    """Strategy ``b`` minus strategy ``a`` over their common ``(order, seed)`` keys."""

    a: str
    b: str
    keys: list[Key]
    metrics: dict[str, DifferenceStats]
    tasks: dict[str, DifferenceStats]
    unmatched: dict[str, list[Key]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.b} - {self.a}"

    @property
    def n_pairs(self) -> int:
        return len(self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "difference": self.name, "n_pairs": self.n_pairs,
                "pairs": [key_dict(k) for k in self.keys],
                "unmatched": {label: [key_dict(k) for k in keys] for label, keys in self.unmatched.items()},
                "metrics": {m: s.to_dict() for m, s in self.metrics.items()},
                "tasks": {t: s.to_dict() for t, s in self.tasks.items()}, "notes": list(self.notes)}


def compare_pair(a_runs: Sequence[PairedRun], b_runs: Sequence[PairedRun], *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = SEED) -> PairComparison:
    """Paired statistics of ``b - a`` (all runs of ``a`` share one label, all of ``b`` another)."""
    a, b = _label(a_runs), _label(b_runs)
    pairs, only_a, only_b = pair_runs(a_runs, b_runs)
    opts = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    metrics = {m: paired_stats([rb.values[m] - ra.values[m] for ra, rb in pairs], **opts) for m in METRICS}
    tasks: dict[str, DifferenceStats] = {}
    for task in _task_names(pairs):
        diffs = [rb.final_scores.get(task, math.nan) - ra.final_scores.get(task, math.nan) for ra, rb in pairs]
        tasks[task] = paired_stats(diffs, **opts)
    notes = []
    if len(pairs) < MIN_PAIRS:
        notes.append(f"only {len(pairs)} pair(s) (fewer than {MIN_PAIRS}): the interval is unreliable and neither "
                     "test can reach p < 0.05; run more seeds or task orders")
    if only_a or only_b:
        left = [f"{len(keys)} run(s) of {label}" for label, keys in ((a, only_a), (b, only_b)) if keys]
        notes.append(f"left out without a partner with the same (order, seed): {', '.join(left)}")
    groups = {r.group for ra, rb in pairs for r in (ra, rb)}
    if len(groups) > 1:
        notes.append("pairs span run directories: they are paired by (order, seed) and assume the same data")
    return PairComparison(a=a, b=b, keys=[ra.key for ra, _ in pairs], metrics=metrics, tasks=tasks,
                          unmatched={a: only_a, b: only_b}, notes=notes)


def _label(runs: Sequence[PairedRun]) -> str:
    labels = {r.label for r in runs}
    if len(labels) != 1:
        raise ValueError(f"expected the runs of one label, got {sorted(labels)}")
    return labels.pop()


def _task_names(pairs: Sequence[tuple[PairedRun, PairedRun]]) -> list[str]:
    names: dict[str, None] = {}
    for ra, rb in pairs:
        for task in (*ra.order, *rb.order):
            names.setdefault(task, None)
    return list(names)


def label_order(runs: Sequence[PairedRun], strategies: Sequence[str] | None = None) -> list[str]:
    """Labels with baselines first: by position of the strategy in ``strategies`` (default the
    report's order: none, random, ..., inscl), then by first appearance."""
    from inscl.report.aggregate import STRATEGY_ORDER

    rank = list(strategies or ()) + [s for s in STRATEGY_ORDER if s not in (strategies or ())]
    first: dict[str, tuple[int, int]] = {}
    for k, r in enumerate(runs):
        first.setdefault(r.label, (rank.index(r.strategy) if r.strategy in rank else len(rank), k))
    return sorted(first, key=first.__getitem__)


def paired_comparisons(runs: Sequence[PairedRun], *, labels: Sequence[str] | None = None,
                       n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                       seed: int = SEED) -> list[PairComparison]:
    """Every pair of labels, later minus earlier in ``labels`` (default :func:`label_order`),
    so a baseline is always subtracted: ``inscl - random``, ``inscl - none``, ..."""
    labels = list(labels) if labels is not None else label_order(runs)
    by_label: dict[str, list[PairedRun]] = {label: [] for label in labels}
    for r in runs:
        if r.label in by_label:
            by_label[r.label].append(r)
    out = []
    for j in range(1, len(labels)):
        for i in range(j - 1, -1, -1):  # nearest baseline first: inscl - random before inscl - none
            if by_label[labels[i]] and by_label[labels[j]]:
                out.append(compare_pair(by_label[labels[i]], by_label[labels[j]], n_resamples=n_resamples,
                                        confidence=confidence, seed=seed))
    return out


def paired_document(comparisons: Sequence[PairComparison], *, n_resamples: int = N_RESAMPLES,
                    confidence: float = CONFIDENCE, seed: int = SEED) -> dict[str, Any]:
    """The JSON document of a set of comparisons (``paired.json``; ``paired`` in ``compare --json``)."""
    return {"format_version": FORMAT_VERSION, "interval": INTERVAL, "confidence": confidence,
            "n_resamples": n_resamples, "seed": seed, "min_pairs": MIN_PAIRS,
            "comparisons": [c.to_dict() for c in comparisons]}


# ---- text -----------------------------------------------------------------------------------

def _fmt(value: float, digits: int, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return "–" if not math.isfinite(value) else (f"{value:.3f}" if value >= 0.001 else "<0.001")


def metric_digits(metric: str) -> int:
    """RG is in percent (1 decimal is its resolution); scores and BWT are ROUGE-L in 0..1."""
    return 2 if metric == "final_rg" else 4


def stats_cells(stats: DifferenceStats, digits: int) -> list[str]:
    """``[pairs, mean, 95% CI, sign p, Wilcoxon p]`` cells of one row."""
    ci = ("–" if not math.isfinite(stats.ci_low)
          else f"[{_fmt(stats.ci_low, digits)}, {_fmt(stats.ci_high, digits)}]")
    return [str(stats.n), _fmt(stats.mean, digits), ci, _p(stats.sign_p), _p(stats.wilcoxon_p)]


STATS_HEADER = ["pairs", "mean diff", "95% CI", "sign p", "Wilcoxon p"]


def metric_rows(comparisons: Sequence[PairComparison]) -> tuple[list[str], list[list[str]]]:
    """One row per (comparison, metric) for tables."""
    rows = [[c.name, METRIC_NAMES[m]] + stats_cells(s, metric_digits(m))
            for c in comparisons for m, s in c.metrics.items()]
    return ["difference", "metric"] + STATS_HEADER, rows


def task_rows(comparisons: Sequence[PairComparison]) -> tuple[list[str], list[list[str]]]:
    """One row per (comparison, task): the task's final score difference."""
    rows = [[c.name, task] + stats_cells(s, 4) for c in comparisons for task, s in c.tasks.items()]
    return ["difference", "task"] + STATS_HEADER, rows


def notes_text(comparisons: Sequence[PairComparison]) -> list[str]:
    """Each distinct note once, prefixed by the comparisons it concerns."""
    by_note: dict[str, list[str]] = {}
    for c in comparisons:
        for note in c.notes:
            by_note.setdefault(note, []).append(c.name)
    return [f"{', '.join(names)}: {note}" for note, names in by_note.items()]


def method_text(n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> str:
    return (f"Paired by (task order, seed); difference = first strategy minus second. {confidence:.0%} "
            f"{INTERVAL} interval of the mean difference ({n_resamples} resamples, seed {seed}); two-sided "
            "sign test and Wilcoxon signed-rank p-values. RG in percent points, scores and BWT in ROUGE-L.")
