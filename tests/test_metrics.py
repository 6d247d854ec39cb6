"""Metrics on a fixed 3x3 score matrix (values computed by hand) and the forgetting-analysis rule."""

from __future__ import annotations

import math

import pytest

from inscl.runner import metrics as M

R = [[0.8, None, None],
     [0.6, 0.5, None],
     [0.4, 0.3, 0.9]]
TASKS = ["t1", "t2", "t3"]


def test_average_score():
    assert M.average_score(R) == pytest.approx([0.8, 0.55, 1.6 / 3])


def test_relative_gain_diagonal_reference():
    ref = M.diagonal_reference(R)
    assert ref == pytest.approx([0.8, 0.5, 0.9])
    # RG_2 = 100/2 (0.6/0.8 + 0.5/0.5) = 87.5; RG_3 = 100/3 (0.5 + 0.6 + 1) = 70
    assert M.relative_gain(R, ref) == pytest.approx([100.0, 87.5, 70.0])


def test_relative_gain_expert_reference():
    ref = [1.0, 0.6, 0.9]
    # RG_1 = 80; RG_2 = 50 (0.6 + 0.5/0.6); RG_3 = 100/3 (0.4 + 0.5 + 1)
    assert M.relative_gain(R, ref) == pytest.approx([80.0, 50 * (0.6 + 0.5 / 0.6), 190 / 3])


def test_relative_gain_skips_zero_reference_terms():
    rg = M.relative_gain(R, [0.0, 0.5, 0.9])
    assert rg[0] is None
    assert rg[1] == pytest.approx(100.0)
    assert rg[2] == pytest.approx(100 / 2 * (0.3 / 0.5 + 0.9 / 0.9))


def test_forgetting_and_bwt():
    assert M.forgetting(R, TASKS) == pytest.approx({"t1": 0.4, "t2": 0.2})
    assert M.backward_transfer(R) == pytest.approx(-0.3)
    assert M.backward_transfer([[0.7]]) == 0.0
    assert M.forgetting([[0.7]], ["t1"]) == {}


def test_summarize_and_matrix_checks():
    s = M.summarize(R, TASKS, M.diagonal_reference(R))
    assert s["final_rg"] == pytest.approx(70.0)
    assert s["bwt"] == pytest.approx(-0.3)
    assert math.isnan(M.as_matrix(R)[0, 1])
    with pytest.raises(ValueError):
        M.as_matrix([[0.1, None], [0.2]])
    with pytest.raises(ValueError):
        M.relative_gain(R, [1.0, 1.0])


def test_mean_std():
    assert M.mean_std([1.0, 3.0, None]) == pytest.approx((2.0, 1.0))
    assert M.mean_std([None]) == (None, None)


def test_degenerate_outputs():
    assert M.is_degenerate("")
    assert M.is_degenerate("  ...  ")
    assert M.is_degenerate("yes yes yes yes")
    assert M.is_degenerate("the cat sat the cat sat the cat sat the cat sat")
    assert not M.is_degenerate("The cat sat on the mat.")
    assert not M.is_degenerate("no")


def _rec(i, pred, ref, score):
    return {"task": "x", "id": str(i), "prediction": pred, "reference": ref, "rougeL": score}


def test_forgetting_analysis_rule():
    # Task "cls": label set {yes, no}.
    cls_learned = [_rec(1, "yes", "yes", 1.0), _rec(2, "yes", "yes", 1.0), _rec(3, "no", "yes", 0.3),
                   _rec(4, "no", "no", 1.0), _rec(5, "no", "no", 0.5)]
    cls_final = [_rec(1, "maybe so", "yes", 0.0),   # forgotten, not a label -> unrelated
                 _rec(2, "No.", "yes", 0.0),        # forgotten, a label (case/punct ignored) -> related
                 _rec(3, "maybe", "yes", 0.0),      # never learned -> ignored
                 _rec(4, "no", "no", 1.0),          # kept -> ignored
                 _rec(5, "", "no", 0.0)]            # learned score not above the threshold -> ignored
    # Task "gen": 25 distinct references, so no label set.
    gen_learned = [_rec(i, f"answer number {i}", f"answer number {i}", 1.0) for i in range(25)]
    gen_final = [_rec(i, f"answer number {i}", f"answer number {i}", 1.0) for i in range(25)]
    gen_final[0] = _rec(0, "the the the the", "answer number 0", 0.0)        # degenerate -> unrelated
    gen_final[1] = _rec(1, "", "answer number 1", 0.0)                       # empty -> unrelated
    gen_final[2] = _rec(2, "a reply about weather", "answer number 2", 0.2)  # on format, wrong -> related
    out = M.forgetting_analysis({"cls": cls_learned, "gen": gen_learned}, {"cls": cls_final, "gen": gen_final},
                                threshold=0.5)
    assert out["per_task"] == {"cls": {"instruction_related": 1, "instruction_unrelated": 1},
                               "gen": {"instruction_related": 1, "instruction_unrelated": 2}}
    assert (out["instruction_related"], out["instruction_unrelated"]) == (2, 3)
    assert "label" in out["rule"] and out["threshold"] == 0.5


def test_label_set_limit():
    assert M.label_set(["Yes", "no", "yes."]) == {"yes", "no"}
    assert M.label_set([f"r{i}" for i in range(21)]) is None


def test_relative_gain_is_the_mean_over_defined_terms():
    # One definition: RG_t = 100/|D_t| sum_{i in D_t} R[t][i]/ref_i, D_t = {i <= t: ref_i > 0}.
    R = [[0.4, None, None], [0.2, 0.3, None], [0.1, 0.3, 0.05]]
    ref = [0.5, 0.0, 0.01]
    assert M.relative_gain(R, ref) == pytest.approx([80.0, 40.0, 100 * (0.2 + 5.0) / 2])


def test_reference_warnings_flag_zero_and_weak_references():
    tasks = ["a", "b", "c", "d"]
    got = M.reference_warnings([0.5, 0.0, 0.0185, None], tasks, threshold=0.05)
    assert [(w["task"], w["problem"]) for w in got] == [("b", "zero"), ("c", "below threshold"),
                                                       ("d", "missing")]
    assert M.reference_warnings([0.5, 0.0, 0.0185, 0.3], tasks, threshold=0.0)[0]["problem"] == "zero"
    assert len(M.reference_warnings([0.5, 0.0, 0.0185, 0.3], tasks, threshold=0.0)) == 1
    assert M.reference_warnings([0.5, 0.2], ["a", "b"], threshold=0.05) == []
    line = M.format_reference_warning(got[1], "expert")
    assert "expert reference of task c is 0.0185 < 0.05" in line


def test_summarize_reports_rg_under_both_references_with_warnings():
    R = [[0.4, None], [0.3, 0.02]]
    expert = [0.5, 0.0185]
    diagonal = M.diagonal_reference(R)
    m = M.summarize(R, ["a", "b"], expert, references={"expert": expert, "diagonal": diagonal},
                    min_reference=0.05)
    assert m["relative_gain"] == m["relative_gain_by_reference"]["expert"]
    assert m["final_rg_by_reference"]["expert"] == pytest.approx(100 * (0.3 / 0.5 + 0.02 / 0.0185) / 2)
    assert m["final_rg_by_reference"]["diagonal"] == pytest.approx(100 * (0.3 / 0.4 + 1.0) / 2)
    assert [w["task"] for w in m["reference_warnings"]["expert"]] == ["b"]
    assert [w["task"] for w in m["reference_warnings"]["diagonal"]] == ["b"]
    none = M.summarize(R, ["a", "b"], diagonal, references={"expert": None, "diagonal": diagonal})
    assert none["relative_gain_by_reference"]["expert"] is None and none["reference_warnings"]["expert"] == []


def _doc(strategy: str, seed: int, expert: list[float]) -> dict:
    R = [[0.4, None], [0.3, 0.02]]
    m = M.summarize(R, ["a", "b"], expert, references={"expert": expert, "diagonal": M.diagonal_reference(R)},
                    min_reference=0.05)
    return {"strategy": strategy, "seed": seed, "order": ["a", "b"], "R": R, "metrics": m,
            "reference": {"kind": "expert", "scores": dict(zip("ab", expert))},
            "metric": {"name": "superni-rougeL"}, "config": {"evaluation": {"metric": "superni-rougeL"}}}


def test_compare_and_report_show_the_metric_and_weak_references(tmp_path):
    from inscl.report.aggregate import summarize as report_summarize
    from inscl.report.results import parse_result
    from inscl.report.tables import reference_table
    from inscl.runner.compare import comparison_rows, format_markdown, format_text

    docs = [("run", _doc("inscl", 0, [0.5, 0.0185])), ("run", _doc("inscl", 1, [0.5, 0.3]))]
    rows = comparison_rows(docs)
    assert rows[0]["metric"] == ["superni-rougeL"]
    assert rows[0]["reference_warnings"] == [("seed 0: expert reference of task b is 0.0185 < 0.05: its RG term "
                                              "is unstable")]
    text, md = format_text(rows), format_markdown(rows)
    for out in (text, md):
        assert "score metric: superni-rougeL" in out and "warning: inscl seed 0: expert reference of task b" in out
    table = reference_table(report_summarize([parse_result(d, tmp_path / f"{k}.json") for k, (_, d) in
                                              enumerate(docs)]))
    assert table is not None
    assert [r[2] for r in table.rows] == ["superni-rougeL", "superni-rougeL"]
    assert "task b is 0.0185 < 0.05" in table.rows[0][-1] and table.rows[1][-1] == (
        "diagonal reference of task b is 0.02 < 0.05: its RG term is unstable")
