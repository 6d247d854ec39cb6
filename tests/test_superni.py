"""SuperNI-16: the paper's orders, the category mapping, and the stream builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inscl.data import is_english_task, load_task_dir, read_superni_task_file
from inscl.data.jsonio import read_json, read_jsonl
from inscl.data.superni import (
    CATEGORIES,
    ORDERS,
    SUPERNI_TO_INSCL,
    build_superni_stream,
    inscl_category_of,
    resolve_order,
)
from inscl.errors import InputError

CURRICULUM = ["Classification", "Text_Quality_Evaluation", "Code", "Detection", "Sentiment_Analysis",
              "Comprehension", "Closed_QA", "Extraction", "Dialogue", "Program_Execution", "Rewriting", "Open_QA",
              "Misc", "Generation", "Summarization", "Mathematics"]
RANDOM = ["Text_Quality_Evaluation", "Mathematics", "Dialogue", "Summarization", "Extraction", "Misc", "Closed_QA",
          "Code", "Rewriting", "Detection", "Comprehension", "Sentiment_Analysis", "Open_QA", "Program_Execution",
          "Generation", "Classification"]


# --------------------------------------------------------------------------- orders


def test_presets_are_the_papers_orders():
    assert list(CATEGORIES) == CURRICULUM
    assert ORDERS["curriculum"] == CURRICULUM
    assert ORDERS["reverse"] == CURRICULUM[::-1]
    assert ORDERS["random"] == RANDOM
    assert set(ORDERS) == {"curriculum", "reverse", "random"}


def test_resolve_order_keeps_present_categories_in_preset_order():
    present = ["Mathematics", "Code", "Misc", "Classification"]
    assert resolve_order("curriculum", present) == ["Classification", "Code", "Misc", "Mathematics"]
    assert resolve_order("reverse", present) == ["Mathematics", "Misc", "Code", "Classification"]
    assert resolve_order("random", present) == ["Mathematics", "Misc", "Code", "Classification"]
    assert resolve_order(["Misc", "Code"], present) == ["Misc", "Code"]
    assert resolve_order("Misc,Code", present) == ["Misc", "Code"]


def test_resolve_order_seeded_permutation_ignores_input_order():
    present = CURRICULUM[:7]
    a = resolve_order("random:3", present)
    assert sorted(a) == sorted(present)
    assert a == resolve_order("random:3", present[::-1])
    assert {tuple(resolve_order(f"random:{s}", present)) for s in range(5)} != {tuple(a)}
    assert resolve_order("shuffle", present, seed=3) == a


@pytest.mark.parametrize("order", ["Nope", ["Code", "Nope"], ["Code", "Code"], "random:x"])
def test_resolve_order_errors(order):
    with pytest.raises(InputError, match="field 'order'"):
        resolve_order(order, ["Code", "Misc"])


def test_resolve_order_preset_without_any_category():
    with pytest.raises(InputError, match="names none"):
        resolve_order("curriculum", ["t1", "t2"])


def test_mapping_targets_are_inscl_categories():
    assert set(SUPERNI_TO_INSCL.values()) == set(CATEGORIES) - {"Closed_QA"}  # Closed_QA comes from the QA rule


# --------------------------------------------------------------------------- the shared subset


def listed_files(superni_dir: Path) -> dict[str, list[Path]]:
    cats = json.loads((superni_dir / "categories.json").read_text(encoding="utf-8"))
    return {c: [superni_dir / "tasks" / f for f in files] for c, files in cats.items()}


def test_mapping_agrees_with_shared_mapping_and_labels(superni_dir):
    doc = json.loads((superni_dir / "mapping.json").read_text(encoding="utf-8"))
    for superni_cat, targets in doc["superni_to_inscl"].items():
        if len(targets) == 1:
            assert SUPERNI_TO_INSCL[superni_cat] == targets[0], superni_cat
    for path in sorted((superni_dir / "tasks").glob("*.json")):
        tf = read_superni_task_file(path)
        if tf.inscl_category:  # the hand-made label of the subset; our rule must reproduce it
            assert inscl_category_of(tf, use_field=False) == tf.inscl_category, path.name


def test_build_shared_subset(superni_dir, tmp_path):
    out = tmp_path / "stream"
    manifest = build_superni_stream(superni_dir, out_dir=out, progress=False)
    listed = listed_files(superni_dir)
    english = {c: [f for f in fs if is_english_task(json.loads(f.read_text(encoding="utf-8")))]
               for c, fs in listed.items()}
    assert manifest["order"] == [c for c in listed if english[c]]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json"] + [f"{c}.{s}.jsonl" for c in manifest["order"] for s in ("train", "test")])
    for entry in manifest["categories"]:
        cat = entry["name"]
        docs = {f.name: json.loads(f.read_text(encoding="utf-8")) for f in english[cat]}
        assert entry["source_files"] == list(docs)
        train, test = read_jsonl(out / f"{cat}.train.jsonl"), read_jsonl(out / f"{cat}.test.jsonl")
        assert (entry["train"], entry["test"]) == (len(train), len(test))
        all_ids = {i["id"] for d in docs.values() for i in d["Instances"]}
        train_ids, test_ids = {r["id"] for r in train}, {r["id"] for r in test}
        assert len(train) + len(test) == sum(len(d["Instances"]) for d in docs.values())
        assert not train_ids & test_ids and train_ids | test_ids == all_ids
        assert abs(len(test) - 0.2 * len(all_ids)) <= 1
        for r in train + test:
            assert r["task"] == cat
            assert r["instruction"] == docs[r["source"]]["Definition"][0].strip()
            inst = next(i for i in docs[r["source"]]["Instances"] if i["id"] == r["id"])
            assert (r["input"], r["output"]) == (inst["input"], inst["output"][0])
    # the builder's output reads back as one task per category, split kept
    tasks = load_task_dir(out)
    assert [t.name for t in tasks] == manifest["order"]
    assert all(len(t.metadata["split"]["test"]) == e["test"] for t, e in zip(tasks, manifest["categories"]))


def test_build_is_deterministic_and_seeded(superni_dir, tmp_path):
    def files(d: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(d.iterdir())}

    a = build_superni_stream(superni_dir, out_dir=tmp_path / "a", seed=1, max_per_task=10, progress=False)
    build_superni_stream(superni_dir, out_dir=tmp_path / "b", seed=1, max_per_task=10, progress=False)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    build_superni_stream(superni_dir, out_dir=tmp_path / "c", seed=2, max_per_task=10, progress=False)
    assert files(tmp_path / "a") != files(tmp_path / "c")
    # the cap keeps the first N instances of every task file
    for entry in a["categories"]:
        assert entry["train"] + entry["test"] == sum(min(n, 10) for n in entry["instances"].values())
        assert all(n == min(10, len(json.loads((superni_dir / "tasks" / f).read_text())["Instances"]))
                   for f, n in entry["instances"].items())
    assert (a["seed"], a["test_fraction"], a["max_per_task"]) == (1, 0.2, 10)


# --------------------------------------------------------------------------- a fake upstream checkout


def task_file(path: Path, categories: list[str], definition: str, n: int, *, language="English",
              domains=("Miscellaneous",), inputs=None) -> None:
    doc = {"Contributors": ["x"], "Source": ["s"], "Categories": categories, "Definition": [definition],
           "Input_language": [language], "Output_language": ["English"], "Instruction_language": ["English"],
           "Domains": list(domains), "Positive Examples": [], "Negative Examples": [],
           "Instances": [{"id": f"{path.stem[:7]}-{i}", "input": (inputs or "in {}").format(i),
                          "output": [f"out {i}"]} for i in range(n)]}
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture()
def upstream(tmp_path) -> Path:
    tasks = tmp_path / "natural-instructions" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "README.md").write_text("# task list\n")
    task_file(tasks / "task001_sst_sentiment.json", ["Sentiment Analysis"], "Classify the sentiment.", 10)
    task_file(tasks / "task002_spanish_sentiment.json", ["Sentiment Analysis"], "Clasifica.", 10, language="Spanish")
    task_file(tasks / "task003_squad_qa.json", ["Question Answering"], "Answer using the passage.", 5,
              domains=["Wikipedia"])
    task_file(tasks / "task004_trivia_qa.json", ["Question Answering"], "Answer the trivia question.", 6,
              domains=["Wikipedia"])
    task_file(tasks / "task005_math_qa.json", ["Question Answering"], "Answer the question.", 7,
              domains=["Mathematics"])
    task_file(tasks / "task006_mctaco_qa.json", ["Question Answering"], "Answer the question.", 4,
              inputs="Context: text {}\nQuestion: why?")
    task_file(tasks / "task007_translation.json", ["Translation"], "Translate.", 3)
    task_file(tasks / "task008_ner.json", ["Named Entity Recognition"], "Find the names.", 8)
    task_file(tasks / "task009_imdb_sentiment.json", ["Sentiment Analysis"], "Is the review positive?", 5)
    return tasks.parent


def test_upstream_grouping_and_english_filter(upstream, tmp_path):
    out = tmp_path / "stream"
    m = build_superni_stream(upstream, out_dir=out, seed=0, progress=False)
    assert m["grouping"] == "file fields"
    assert m["order"] == ["Sentiment_Analysis", "Closed_QA", "Extraction", "Open_QA", "Mathematics"]
    by_name = {e["name"]: e for e in m["categories"]}
    assert by_name["Sentiment_Analysis"]["source_files"] == ["task001_sst_sentiment.json",
                                                             "task009_imdb_sentiment.json"]
    assert by_name["Closed_QA"]["source_files"] == ["task003_squad_qa.json", "task006_mctaco_qa.json"]
    assert by_name["Open_QA"]["source_files"] == ["task004_trivia_qa.json"]
    assert by_name["Mathematics"]["source_files"] == ["task005_math_qa.json"]
    assert {s["file"]: s["reason"] for s in m["skipped"]}.keys() == {"task002_spanish_sentiment.json",
                                                                     "task007_translation.json"}
    sentiment = read_jsonl(out / "Sentiment_Analysis.train.jsonl") + read_jsonl(out / "Sentiment_Analysis.test.jsonl")
    assert len(sentiment) == 15 and "Clasifica." not in {r["instruction"] for r in sentiment}
    assert {r["source"] for r in sentiment} == {"task001_sst_sentiment.json", "task009_imdb_sentiment.json"}


def test_rebuild_replaces_and_foreign_folder_is_refused(upstream, tmp_path):
    out = tmp_path / "stream"
    build_superni_stream(upstream, out_dir=out, test_fraction=0.5, progress=False)
    m = build_superni_stream(upstream / "tasks", out_dir=out, test_fraction=0.2, progress=False)
    assert read_json(out / "manifest.json") == m and m["test_fraction"] == 0.2
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="field '--out'"):
        build_superni_stream(upstream, out_dir=foreign, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


def test_bad_parameters_and_broken_file_leave_nothing(upstream, tmp_path):
    with pytest.raises(InputError, match="--test-fraction"):
        build_superni_stream(upstream, out_dir=tmp_path / "o", test_fraction=1.0)
    with pytest.raises(InputError, match="--max-per-task"):
        build_superni_stream(upstream, out_dir=tmp_path / "o", max_per_task=0)
    (upstream / "tasks" / "task010_broken.json").write_text('{"Definition": ["x"],\n "Instances": 3}')
    with pytest.raises(InputError, match=r"task010_broken\.json, field 'Instances'"):
        build_superni_stream(upstream, out_dir=tmp_path / "o", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["natural-instructions"]
