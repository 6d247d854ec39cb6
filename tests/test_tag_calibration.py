"""Tag merging eps calibrated per tag encoder, and LLM tag files with a fallback tagger."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from inscl.encoders.hashing import HashingEncoder
from inscl.errors import InputError
from inscl.replay import tag_calibration as C
from inscl.replay.planner import PlannerConfig, ReplayPlanner
from inscl.replay.tags import canonicalize_instruction_tags
from inscl.taggers.fallback import FallbackTagWarning, TableTagger, read_tag_table
from inscl.taggers.offline import OfflineTagger


def test_stored_calibration_is_what_calibrate_computes_for_hashing():
    enc = HashingEncoder()
    stored = C.load_calibrations()[enc.id]
    got = C.calibrate(enc)
    assert (got.eps, got.min_samples) == (stored["eps"], stored["min_samples"]) == (got.eps, 2)
    assert got.distinct_merged == 0  # the rule: no distinct pair of the set is merged
    assert C.merge_parameters(enc.id) == (got.eps, 2, "calibrated")


def test_minilm_calibration_merges_synonyms_and_keeps_intents_apart():
    from inscl.encoders import make_encoder

    enc = make_encoder("minilm", progress=False)
    eps, min_samples, source = C.merge_parameters(enc.id)
    assert source == "calibrated" and min_samples == 2 and eps == C.calibrate(enc).eps
    raw = {"s1": ["sentiment analysis"], "s2": ["Sentiment classification"], "s3": ["question answering"],
           "s4": ["answer question"], "s5": ["summarization"], "s6": ["text summarization"],
           "s7": ["sentiment generation"]}
    canon = canonicalize_instruction_tags(raw, enc, eps=eps, min_samples=min_samples)
    assert canon["s1"] == canon["s2"]
    assert canon["s3"] == canon["s4"]
    assert canon["s5"] == canon["s6"]
    assert canon["s7"] == ["sentiment generation"] != canon["s1"]
    # the paper's eps 0.1 / min_samples 5 merge none of them: the calibration matters
    plain = canonicalize_instruction_tags(raw, enc, eps=0.1, min_samples=5)
    assert len({t for ts in plain.values() for t in ts}) == 7


def test_merge_parameters_precedence():
    assert C.merge_parameters("no-such-encoder") == (C.FALLBACK_EPS, C.FALLBACK_MIN_SAMPLES, "fallback")
    assert C.merge_parameters(HashingEncoder().id, eps=0.3) == (0.3, 2, "config")
    assert C.merge_parameters("no-such-encoder", min_samples=3) == (0.1, 3, "config")


def test_planner_uses_the_calibrated_eps_and_records_it():
    from inscl.data.task import Example, Task

    tasks = [Task(n, [Example(f"{v} the text.", f"x{k}", "y", f"{n}-{k}", n) for k in range(4)])
             for n, v in (("a", "Classify"), ("b", "Summarize"))]
    tags = {"Classify the text.": ["classification"], "Summarize the text.": ["summarization"]}
    enc = HashingEncoder()
    planner = ReplayPlanner(PlannerConfig(strategy="inscl", budget=2), enc, tags=tags, progress=False)
    for t in tasks:
        planner.add_task(t)
    assert planner.to_dict()["tag_merge"] == {"eps": C.merge_parameters(enc.id)[0], "min_samples": 2,
                                              "source": "calibrated"}
    fixed = ReplayPlanner(PlannerConfig(strategy="inscl", budget=2, dbscan_eps=0.1, dbscan_min_samples=5),
                          enc, tags=tags, progress=False)
    assert fixed.to_dict()["tag_merge"] == {"eps": 0.1, "min_samples": 5, "source": "config"}
    assert ReplayPlanner(PlannerConfig(strategy="random"), enc, progress=False).to_dict()["tag_merge"] is None


def test_llm_tag_file_objects_and_fallback_warning(tmp_path: Path):
    path = tmp_path / "llm-tags.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"task_file": "t1.json", "instruction": "Classify the review.\n",
         "tags": [{"tag": "sentiment analysis", "explanation": "x"}, {"tag": "binary classification"}]},
        {"instruction": "Translate it.", "tags": ["translation"]},
    ]) + "\n")
    table = read_tag_table(path)
    assert table == {"Classify the review.\n": ["sentiment analysis", "binary classification"],
                     "Translate it.": ["translation"]}
    tagger = TableTagger(table, OfflineTagger(), source=path.name)
    with pytest.warns(FallbackTagWarning, match=r"1 of 3 instruction\(s\) are not in llm-tags.jsonl"):
        got = tagger.tag(["Classify the review.", "Translate it.", "Generate a title for the article."])
    assert got["Classify the review."] == ["sentiment analysis", "binary classification"]  # whitespace ignored
    assert got["Generate a title for the article."] == ["title generation"]  # from the offline fallback
    assert tagger.uncovered == ["Generate a title for the article."]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fully covered: no warning
        tagger.tag(["Translate it."])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "tags": [{"explanation": "no tag"}]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1.*tags\[0\]"):
        read_tag_table(bad)


def test_superni_llm_tags_cover_every_definition(superni_dir: Path):
    from inscl.data import load_tasks

    instructions = list(dict.fromkeys(s for t in load_tasks([superni_dir]) for s in t.instructions()))
    tagger = TableTagger(read_tag_table(superni_dir / "llm-tags.jsonl"), None)
    assert set(tagger.tag(instructions)) == set(instructions)
    assert np.mean([len(v) for v in tagger.tag(instructions).values()]) > 3
