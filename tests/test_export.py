"""write_plan: the per-stage files, dataset_info.json, plan.json, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from inscl.data.export import stage_dir_name, write_plan
from inscl.data.task import Example, Task, split_task
from inscl.encoders.hashing import HashingEncoder
from inscl.errors import InputError
from inscl.replay.planner import PlannerConfig, plan_stream


def make_tasks() -> list[Task]:
    tasks = []
    for t, (name, verbs) in enumerate([("classify reviews", ["Classify", "Label"]),
                                       ("qa", ["Answer", "Reply to"]), ("sum/mary", ["Summarize", "Shorten"])]):
        examples = [Example(f"{verbs[j % 2]} the text.", f"text {t}.{j}" if j % 3 else "", f"out {t}.{j}",
                            f"{t}-{j}", name) for j in range(10 + 3 * t)]
        tasks.append(Task(name, examples))
    return tasks


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Task], list[Task], object]:
    tasks = make_tasks()
    trains, tests = zip(*(split_task(t, 0.2, seed=0) for t in tasks))
    planner = plan_stream(trains, PlannerConfig(strategy="random", budget=3, seed=1), HashingEncoder(dim=64),
                          progress=False)
    out = tmp_path_factory.mktemp("export") / "plan"
    assert write_plan(planner, trains, out, test_tasks=tests) == out / "plan.json"
    return out, list(trains), list(tests), planner


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_layout(written) -> None:
    out, trains, tests, planner = written
    assert stage_dir_name(3, "sum/mary", 3) == "stage_03_sum_mary"
    dirs = ["stage_01_classify_reviews", "stage_02_qa", "stage_03_sum_mary"]
    assert sorted(p.name for p in out.iterdir()) == sorted([".inscl-output", "data", "dataset_info.json",
                                                            "plan.json", *dirs])
    assert json.loads((out / ".inscl-output").read_text())["kind"] == "plan"
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700
    for folder, train, stage in zip(dirs, trains, planner.stages):
        replay = read_jsonl(out / folder / "replay.jsonl")
        mixture = read_jsonl(out / folder / "mixture.jsonl")
        assert [r["id"] for r in replay] == [e.id for e in stage.replay]
        assert sorted(r["id"] for r in mixture) == sorted([e.id for e in train] + [r["id"] for r in replay])
        assert all(set(r) == {"instruction", "input", "output", "id", "task"} for r in mixture)
        # Shuffled: training data and replay are interleaved, not appended.
        if replay:
            assert [r["id"] for r in mixture] != [e.id for e in train] + [r["id"] for r in replay]
    for train, test in zip(trains, tests):
        stem = train.name.replace("/", "_").replace(" ", "_")
        assert [r["id"] for r in read_jsonl(out / "data" / f"{stem}.test.jsonl")] == [e.id for e in test]
        assert [r["id"] for r in read_jsonl(out / "data" / f"{stem}.train.jsonl")] == [e.id for e in train]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_plan_json(written) -> None:
    out, trains, _, planner = written
    doc = json.loads((out / "plan.json").read_text())
    assert (doc["strategy"], doc["budget"], doc["seed"], doc["order"]) == ("random", 3, 1, [t.name for t in trains])
    assert [s["selected"] for s in doc["stages"]] == [s.selected for s in planner.stages]
    assert doc["stages"][2]["quotas"] == {"classify reviews": 3, "qa": 3}
    assert [s["dir"] for s in doc["stages"]] == ["stage_01_classify_reviews", "stage_02_qa", "stage_03_sum_mary"]


def test_dataset_info_points_to_loadable_files(written) -> None:
    out, trains, _, _ = written
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"inscl_stage_01_classify_reviews", "inscl_stage_02_qa", "inscl_stage_03_sum_mary",
                         "inscl_stage_02_qa_replay", "inscl_stage_03_sum_mary_replay"}
    for entry in info.values():
        assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
        path = out / entry["file_name"]
        assert path.is_file()
        ds = datasets.load_dataset("json", data_files=str(path), split="train",
                                   cache_dir=str(out.parent / "hf-cache"))
        assert ds.num_rows == len(read_jsonl(path))
        assert set(ds.column_names) == {"instruction", "input", "output", "id", "task"}
    mix3 = datasets.load_dataset("json", data_files=str(out / "stage_03_sum_mary" / "mixture.jsonl"),
                                 split="train", cache_dir=str(out.parent / "hf-cache"))
    assert mix3.num_rows == len(trains[2]) + 6 and set(mix3["task"]) == {t.name for t in trains}


def test_mixture_order_is_deterministic(written, tmp_path: Path) -> None:
    out, trains, _, planner = written
    write_plan(planner, trains, tmp_path / "again")
    for stage in ("stage_02_qa", "stage_03_sum_mary"):
        assert (tmp_path / "again" / stage / "mixture.jsonl").read_bytes() == (out / stage / "mixture.jsonl").read_bytes()
    assert not (tmp_path / "again" / "data").exists()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_output_is_kept_unless_overwrite(written, tmp_path: Path) -> None:
    _, trains, _, planner = written
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not empty"):
        write_plan(planner, trains, target)
    # overwrite replaces only a folder inscl wrote: a user's folder is refused, naming what it holds
    with pytest.raises(InputError, match=r"not written by inscl.*would delete 1 file\(s\) in 1 folder\(s\): keep\.txt"):
        write_plan(planner, trains, target, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    (target / "keep.txt").unlink()
    write_plan(planner, trains, target)  # an empty folder is fine
    (target / "stage_01_qa").mkdir()  # something the earlier plan did not hold: replaced with it
    write_plan(planner, trains, target, overwrite=True)
    assert (target / "plan.json").is_file() and not (target / "stage_01_qa").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_failure_leaves_nothing(written, tmp_path: Path) -> None:
    _, trains, _, planner = written
    with pytest.raises(ValueError, match="do not match"):
        write_plan(planner, trains[:2], tmp_path / "out")
    bad = [Task(t.name, list(t.examples) + [object()]) for t in trains]  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected an Example"):
        write_plan(planner, bad, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# Independent recomputation of InsInfo from plan.json: plain json + math, run in a fresh
# interpreter that never imports inscl.
_RECOMPUTE = r"""
import json, math, sys
plan = json.load(open(sys.argv[1], encoding="utf-8"))
assert plan["format_version"] >= 2
checked = 0
for stage in plan["stages"]:
    if stage["index"] == 1:
        continue
    n, tags, freq = stage["n_instructions"], stage["tags"], stage["tag_frequencies"]
    assert n == len(tags)
    counted = {}
    for s, ts in tags.items():
        for g in set(ts):
            counted[g] = counted.get(g, 0) + 1
    assert counted == freq, (counted, freq)
    for task, scores in stage["insinfo"].items():
        for s, value in scores.items():
            expected = math.fsum(math.log(n / freq[g]) for g in set(tags[s]))
            assert abs(value - expected) <= 1e-12 * max(1.0, abs(expected)), (s, value, expected)
            checked += 1
assert "inscl" not in sys.modules
print(checked)
"""


def test_plan_json_alone_recomputes_insinfo(tmp_path: Path) -> None:
    import subprocess
    import sys

    tasks = make_tasks()
    raw = {"Classify the text.": ["Sentiment Analysis", "classification", "text"],
           "Label the text.": ["sentiment analysis", "labelling"],
           "Answer the text.": ["question answering", "text"],
           "Reply to the text.": ["question answering", "reply"],
           "Summarize the text.": ["summarization", "text", "Summarization"],
           "Shorten the text.": ["summarisation", "compression"]}
    config = PlannerConfig(strategy="inscl", budget=4, seed=0, dbscan_eps=0.05, dbscan_min_samples=1)
    planner = plan_stream(tasks, config, HashingEncoder(dim=64), tags=raw, progress=False)
    path = write_plan(planner, tasks, tmp_path / "plan")
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 4  # 3: record_format (plan folders); 4: distance_methods/bounds
    last = doc["stages"][-1]
    assert last["n_instructions"] == 6 and set(last["tags"]) == set(raw)
    assert last["tags"]["Summarize the text."][:2] == ["summarization", "text"]  # normalised, deduplicated
    assert last["tag_frequencies"]["text"] == 3
    out = subprocess.run([sys.executable, "-I", "-c", _RECOMPUTE, str(path)], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout) == sum(len(v) for s in doc["stages"] for v in s["insinfo"].values()) > 0
    # The check can fail: a wrong frequency in the file is caught.
    last["tag_frequencies"]["text"] += 1
    path.write_text(json.dumps(doc))
    bad = subprocess.run([sys.executable, "-I", "-c", _RECOMPUTE, str(path)], capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0


@pytest.mark.parametrize("doc,items", [
    ({"a": 1, "stages": None, "z": {"k": [1, 2]}}, [{"x": [1, {"y": "é\n\u2028"}]}, {"q": []}, 3, "s", []]),
    ({"stages": None}, []),
    ({"a": {"b": None}, "stages": 0, "c": "\x00inscl-streamed-list\x00"}, [{"m": {}}]),  # sentinel in the data
])
def test_streamed_json_is_byte_identical_to_write_json(tmp_path, doc, items):
    from inscl.data.jsonio import write_json, write_json_streamed

    write_json(tmp_path / "whole.json", {**doc, "stages": items})
    write_json_streamed(tmp_path / "streamed.json", doc, "stages", iter(items))
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.json", "whole.json"]  # no temp file left
