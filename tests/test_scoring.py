"""inscl.runner.scoring: SuperNI's official ROUGE-L (stemmed, best reference) and the unstemmed option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from inscl.data.formats.alpaca import load_alpaca_file
from inscl.data.formats.superni import read_superni_task_file
from inscl.data.task import split_task
from inscl.errors import ConfigError
from inscl.runner.config import ExperimentConfig
from inscl.runner.scoring import DEFAULT_METRIC, METRICS, make_scorer

# The English track of allenai/natural-instructions eval/automatic/evaluation.py, transcribed:
# default_rouge_scorer, rouge(), metric_max_over_ground_truths().
default_rouge_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def official_rouge(prediction: str, ground_truth: str) -> float:
    scores = default_rouge_scorer.score(prediction=prediction, target=ground_truth)
    return scores["rougeL"].fmeasure


def metric_max_over_ground_truths(metric_fn, prediction: str, ground_truths: list[str]) -> float:
    return max(metric_fn(prediction, gt) for gt in ground_truths)


# (prediction, references, official score worked out by hand, unstemmed first-reference score by hand)
HAND = [
    # stems: cats->cat, running->run; LCS with ref 2 is "cat run": P 2/4, R 2/5 -> F 4/9.
    # ref 1 "cat ran": LCS "cat": P 1/4, R 1/2 -> F 1/3. Unstemmed vs ref 1: no common token.
    ("The cats were running", ["cat ran", "a cat is running fast"], 4 / 9, 0.0),
    # "Positive." vs "positive": tokenisation drops case and punctuation.
    ("Positive.", ["negative", "positive"], 1.0, 0.0),
    # words of <= 3 letters are not stemmed ("was" stays "was"); "answers"->"answer".
    ("the answers was no", ["answer no"], 2 * (2 / 4) * 1.0 / (2 / 4 + 1.0), 2 * (1 / 4) * (1 / 2) / (1 / 4 + 1 / 2)),
    ("", ["anything"], 0.0, 0.0),
]


@pytest.mark.parametrize("prediction,references,official,first", HAND)
def test_official_metric_matches_evaluation_py_and_hand_values(prediction, references, official, first):
    scorer = make_scorer()
    assert scorer.name == DEFAULT_METRIC == "superni-rougeL"
    got = scorer.score(prediction, references)
    assert got == pytest.approx(metric_max_over_ground_truths(official_rouge, prediction, references), abs=1e-12)
    assert got == pytest.approx(official, abs=1e-12)
    assert make_scorer("rougeL-first").score(prediction, references) == pytest.approx(first, abs=1e-12)


def test_best_reference_is_taken_in_any_position():
    scorer = make_scorer()
    refs = ["completely unrelated words", "the quick brown fox"]
    assert scorer.score("the quick brown fox", refs) == 1.0
    assert scorer.score("the quick brown fox", refs[::-1]) == 1.0
    assert make_scorer("rougeL-first").score("the quick brown fox", refs) == 0.0


def test_scorer_validates():
    with pytest.raises(ValueError, match="unknown metric"):
        make_scorer("bleu")
    with pytest.raises(ValueError):
        make_scorer().score("x", [])
    with pytest.raises(TypeError):
        make_scorer().score("x", "x")
    assert set(METRICS) == {"superni-rougeL", "rougeL-first"}
    assert ExperimentConfig().evaluation.metric == "superni-rougeL"
    with pytest.raises(ConfigError, match="evaluation.metric"):
        ExperimentConfig.from_dict({"evaluation": {"metric": "rouge"}})


def test_all_references_survive_readers_and_split(tmp_path: Path):
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "Say it.", "input": "a", "output": ["yes", "yeah", "yep"]},
        {"instruction": "Say it.", "input": "b", "output": "no"},
        {"instruction": "Say it.", "input": "c", "output": ["maybe"]},
    ]) + "\n")
    task = load_alpaca_file(f)
    assert [e.output for e in task] == ["yes", "no", "maybe"]
    assert [e.all_references() for e in task] == [("yes", "yeah", "yep"), ("no",), ("maybe",)]
    train, test = split_task(task, 0.34, seed=0)
    assert {e.id: e.all_references() for e in [*train, *test]} == {e.id: e.all_references() for e in task}
    s = tmp_path / "task1_x.json"
    s.write_text(json.dumps({"Definition": ["Answer."], "Input_language": ["English"],
                             "Output_language": ["English"], "Instruction_language": ["English"],
                             "Instances": [{"id": "i1", "input": "q", "output": ["A", "an A"]},
                                           {"id": "i2", "input": "r", "output": ["B"]}]}))
    ex = read_superni_task_file(s).examples
    assert [e.output for e in ex] == ["A", "B"]
    assert [e.all_references() for e in ex] == [("A", "an A"), ("B",)]
