"""Continual-learning metrics on the score matrix R (pure functions, numpy).

``R[t][i]`` is the score (0..1, the configured metric) on task i's test set after stage t
(0-based here); entries above the diagonal are unknown (``None``/NaN).

* average score per stage: mean of R[t][0..t];
* Relative Gain (InsCL), the one definition used everywhere (docs/runner.md quotes it)::

      RG_t = 100 / |D_t| * sum_{i in D_t} R[t][i] / ref_i,   D_t = {i <= t : ref_i > 0}

  with ref the *expert* scores (task i trained alone from the base model) or the
  *diagonal* R[i][i] (Continual-T0). With every reference positive this is the paper's
  ``100/t * sum_{i<=t}`` (t counted from 1); a zero reference makes its term undefined,
  so it is left out of the mean (and ``RG_t`` is ``None`` when no term is left).
  :func:`reference_warnings` flags references that are 0 or below a threshold: a tiny
  reference turns noise into a huge ratio;
* forgetting of task i < T: max_{i<=t<T} R[t][i] - R[T][i];
* backward transfer: BWT = mean_{i<T} (R[T][i] - R[i][i]) (0.0 with a single task).

The forgetting analysis of the paper (:func:`forgetting_analysis`) sorts forgotten test
examples into instruction-unrelated and instruction-related failures; see
:data:`FORGETTING_RULE`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

FORGETTING_RULE = (
    "An example of task i is forgotten when its ROUGE-L was above the threshold right after stage i "
    "and is below it after the last stage. It is instruction-unrelated when the final output ignores the "
    "instruction's format: it is empty, degenerate (a token repeated 4+ times in a row, or at least 6 tokens "
    "with fewer than half of its word 3-grams distinct), or - for a task whose test references come from a "
    "small label set (<= 20 distinct references) - not one of those labels (case and punctuation ignored). "
    "Otherwise it is instruction-related (on format, wrong content)."
)
MAX_LABELS = 20


def as_matrix(R: Sequence[Sequence[float | None]]) -> np.ndarray:
    """A square float array with NaN above the diagonal (and for any ``None``)."""
    T = len(R)
    out = np.full((T, T), np.nan)
    for t, row in enumerate(R):
        if len(row) != T:
            raise ValueError(f"R must be square: row {t} has {len(row)} entries, expected {T}")
        for i in range(t + 1):
            if row[i] is not None:
                out[t, i] = float(row[i])
    return out


def average_score(R: Sequence[Sequence[float | None]]) -> list[float]:
    """Mean score over the tasks seen so far, per stage."""
    M = as_matrix(R)
    return [float(np.mean(M[t, : t + 1])) for t in range(len(M))]


def relative_gain(R: Sequence[Sequence[float | None]], reference: Sequence[float]) -> list[float | None]:
    """RG_t = 100/t * sum_{i<=t} R[t][i] / ref_i per stage (``None`` when no term is defined)."""
    M = as_matrix(R)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (len(M),):
        raise ValueError(f"reference must have {len(M)} entries, got {ref.shape}")
    out: list[float | None] = []
    for t in range(len(M)):
        ok = ref[: t + 1] > 0  # a zero reference makes the ratio undefined
        if not ok.any():
            out.append(None)
            continue
        out.append(float(100.0 * np.mean(M[t, : t + 1][ok] / ref[: t + 1][ok])))
    return out


def reference_warnings(reference: Sequence[float | None], tasks: Sequence[str],
                       threshold: float) -> list[dict[str, object]]:
    """One entry per task whose Relative Gain reference is missing, 0, or below ``threshold``.

    Each entry: ``task``, ``reference`` (the score or ``None``), ``problem`` (``"missing"``,
    ``"zero"`` (left out of RG) or ``"below threshold"`` (kept, but the ratio is unstable))
    and ``threshold``.
    """
    out: list[dict[str, object]] = []
    for name, ref in zip(tasks, reference):
        value = None if ref is None or math.isnan(float(ref)) else float(ref)
        if value is None:
            problem = "missing"
        elif value <= 0:
            problem = "zero"
        elif value < threshold:
            problem = "below threshold"
        else:
            continue
        out.append({"task": name, "reference": value, "problem": problem, "threshold": threshold})
    return out


def format_reference_warning(w: Mapping[str, object], kind: str = "") -> str:
    """A one-line message for an entry of :func:`reference_warnings`."""
    which = f"{kind} " if kind else ""
    ref = w.get("reference")
    shown = "none" if ref is None else f"{float(ref):.4g}"  # type: ignore[arg-type]
    if w.get("problem") == "zero" or w.get("problem") == "missing":
        return f"{which}reference of task {w['task']} is {shown}: its RG term is undefined and left out"
    return (f"{which}reference of task {w['task']} is {shown} < {float(w['threshold']):g}: "  # type: ignore[arg-type]
            "its RG term is unstable")


def diagonal_reference(R: Sequence[Sequence[float | None]]) -> list[float]:
    """R[i][i]: each task's score right after it was learned."""
    M = as_matrix(R)
    return [float(M[i, i]) for i in range(len(M))]


def forgetting(R: Sequence[Sequence[float | None]], tasks: Sequence[str]) -> dict[str, float]:
    """Per task before the last: best score at an earlier stage minus the final score."""
    M = as_matrix(R)
    T = len(M)
    return {tasks[i]: float(np.max(M[i : T - 1, i]) - M[T - 1, i]) for i in range(T - 1)}


def backward_transfer(R: Sequence[Sequence[float | None]]) -> float:
    """mean_{i<T} (R[T][i] - R[i][i]); 0.0 for a single stage."""
    M = as_matrix(R)
    T = len(M)
    if T < 2:
        return 0.0
    return float(np.mean([M[T - 1, i] - M[i, i] for i in range(T - 1)]))


# ---- forgetting analysis ------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def label_set(references: Iterable[str], max_labels: int = MAX_LABELS) -> set[str] | None:
    """The normalised distinct references when there are at most ``max_labels``, else None."""
    labels = {_norm(r) for r in references}
    return labels if len(labels) <= max_labels else None


def is_degenerate(text: str) -> bool:
    """Empty, a token repeated 4+ times in a row, or >= 6 tokens with < half distinct 3-grams."""
    tokens = _norm(text).split()
    if not tokens:
        return True
    run = 1
    for a, b in itertools.pairwise(tokens):
        run = run + 1 if a == b else 1
        if run >= 4:
            return True
    if len(tokens) >= 6:
        grams = [tuple(tokens[k : k + 3]) for k in range(len(tokens) - 2)]
        if len(set(grams)) < 0.5 * len(grams):
            return True
    return False


def classify_failure(prediction: str, labels: set[str] | None) -> str:
    """``"instruction_unrelated"`` or ``"instruction_related"`` for one forgotten output."""
    if is_degenerate(prediction):
        return "instruction_unrelated"
    if labels is not None and _norm(prediction) not in labels:
        return "instruction_unrelated"
    return "instruction_related"


def forgetting_analysis(learned: Mapping[str, Sequence[Mapping]], final: Mapping[str, Sequence[Mapping]],
                        threshold: float = 0.5) -> dict:
    """The paper's forgetting analysis.

    ``learned[task]``: the generations of ``task`` right after it was learned; ``final[task]``:
    after the last stage (records with ``id``, ``prediction``, ``reference``, ``rougeL``).
    Only tasks before the last stage should be passed. Returns counts per class, per task,
    and the rule.
    """
    counts: Counter[str] = Counter()
    per_task: dict[str, dict[str, int]] = {}
    for task, records in learned.items():
        after = {r["id"]: r for r in final.get(task, [])}
        labels = label_set(r["reference"] for r in records)
        task_counts: Counter[str] = Counter()
        for r in records:
            end = after.get(r["id"])
            if end is None or not (r["rougeL"] > threshold and end["rougeL"] < threshold):
                continue
            task_counts[classify_failure(end["prediction"], labels)] += 1
        per_task[task] = {"instruction_related": task_counts["instruction_related"],
                          "instruction_unrelated": task_counts["instruction_unrelated"]}
        counts.update(task_counts)
    return {"instruction_related": counts["instruction_related"],
            "instruction_unrelated": counts["instruction_unrelated"],
            "threshold": threshold, "per_task": per_task, "rule": FORGETTING_RULE}


def summarize(R: Sequence[Sequence[float | None]], tasks: Sequence[str], reference: Sequence[float],
              *, references: Mapping[str, Sequence[float] | None] | None = None,
              min_reference: float = 0.0) -> dict:
    """All matrix metrics for results.json (``final_rg`` is the last stage's RG).

    ``reference`` is the headline RG reference. ``references`` maps a reference kind
    (``expert``, ``diagonal``) to its scores (``None``: not computed); each gets its RG in
    ``relative_gain_by_reference`` / ``final_rg_by_reference`` and its flagged tasks in
    ``reference_warnings`` (threshold ``min_reference``).
    """
    rg = relative_gain(R, reference)
    by_ref: dict[str, list[float | None] | None] = {}
    warned: dict[str, list[dict[str, object]]] = {}
    for kind, scores in (references or {}).items():
        by_ref[kind] = None if scores is None else relative_gain(R, scores)
        warned[kind] = [] if scores is None else reference_warnings(scores, tasks, min_reference)
    return {"avg_score": average_score(R), "relative_gain": rg, "final_rg": rg[-1],
            "relative_gain_by_reference": by_ref,
            "final_rg_by_reference": {k: (v[-1] if v is not None else None) for k, v in by_ref.items()},
            "reference_warnings": warned, "min_reference": min_reference,
            "forgetting": forgetting(R, tasks), "bwt": backward_transfer(R)}


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and (population) std of the defined values."""
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v))
