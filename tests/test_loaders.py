"""Loaders: alpaca JSON/JSONL, task folders, SuperNI files, load_tasks, and `inscl data` errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.data import (
    load_alpaca_file,
    load_superni_dir,
    load_superni_task_file,
    load_task_dir,
    load_tasks,
)
from inscl.errors import InputError

LONG_INSTRUCTION = "Summarise the following paragraph in one sentence."


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def jsonl(path: Path, records: list[dict]) -> Path:
    return write_lines(path, [json.dumps(r) for r in records])


def superni_file(path: Path, definition: str, instances: list[tuple[str, str]], *, categories=("Misc.",),
                 language: str = "English", **extra) -> Path:
    doc = {"Contributors": ["x"], "Categories": list(categories), "Definition": [definition],
           "Input_language": [language], "Output_language": [language], "Instruction_language": [language],
           "Domains": ["Miscellaneous"], "Positive Examples": [], "Negative Examples": [],
           "Instances": [{"id": f"{path.stem}-{i}", "input": inp, "output": [out, "alt"]}
                         for i, (inp, out) in enumerate(instances)], **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- alpaca, good input


def test_jsonl_keeps_empty_input_whole_instruction_and_first_output(tmp_path):
    f = jsonl(tmp_path / "t1.jsonl", [
        {"instruction": LONG_INSTRUCTION, "input": "", "output": "a"},
        {"instruction": LONG_INSTRUCTION, "output": ["first", "second"]},
        {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
    ])
    task = load_alpaca_file(f)
    assert task.name == "t1"
    assert len(task) == 3  # empty and missing input are kept
    assert [e.input for e in task] == ["", "", "cat"]
    assert task.examples[0].instruction == LONG_INSTRUCTION  # not reduced to its first character
    assert task.examples[1].output == "first"
    assert [e.id for e in task] == ["t1-0", "t1-1", "t1-2"]
    assert {e.task for e in task} == {"t1"}
    assert task.instruction_counts() == {LONG_INSTRUCTION: 2, "Translate to French.": 1}


def test_json_list_explicit_ids_and_task_name(tmp_path):
    f = tmp_path / "data.json"
    f.write_text(json.dumps([
        {"instruction": "Add.", "input": "1 2", "output": "3", "id": "a"},
        {"instruction": "Add.", "input": "2 2", "output": "4", "id": 7},
    ], indent=2), encoding="utf-8")
    task = load_alpaca_file(f, task_name="math")
    assert task.name == "math"
    assert [e.id for e in task] == ["a", "7"]
    assert [e.output for e in task] == ["3", "4"]


def test_common_task_field_names_the_task(tmp_path):
    f = jsonl(tmp_path / "Code.train.jsonl", [{"instruction": "x", "output": "y", "task": "Code"}])
    assert load_alpaca_file(f).name == "Code"


# --------------------------------------------------------------------------- alpaca, bad input


BAD_JSONL = [
    # (lines, expected line, expected field or None, words in the reason)
    (['{"instruction": "a", "output": "b"}', '{"instruction": "a", "output": '], 2, None, "malformed"),
    (['{"instruction": "a", "output": "b"}', "", '{"instruction": "a", "input": "x"}'], 3, "output", "missing"),
    (['{"instruction": ["a"], "output": "b"}'], 1, "instruction", "string"),
    (['{"instruction": 5, "output": "b"}'], 1, "instruction", "string"),
    (['{"instruction": "   ", "output": "b"}'], 1, "instruction", "empty"),
    (['{"instruction": "a", "output": []}'], 1, "output", "empty"),
    (['{"instruction": "a", "output": "b", "input": 3}'], 1, "input", "string"),
    (['{"instruction": "a", "output": "b", "id": "x"}', '{"instruction": "a", "output": "c", "id": "x"}'],
     2, "id", "duplicate"),
    (['{"instruction": "a", "output": "b"}', '["not", "an", "object"]'], 2, None, "object"),
]


@pytest.mark.parametrize("lines,line,field,reason", BAD_JSONL)
def test_bad_jsonl_names_file_line_and_field(tmp_path, lines, line, field, reason):
    f = write_lines(tmp_path / "t1.jsonl", lines)
    with pytest.raises(InputError) as info:
        load_alpaca_file(f)
    msg = str(info.value)
    assert msg.startswith(f"{f}:{line}")
    assert info.value.line == line
    if field:
        assert f"field '{field}'" in msg
    assert reason in msg


def test_bad_json_list_names_line_where_the_object_starts(tmp_path):
    f = tmp_path / "t2.json"
    f.write_text('[\n  {"instruction": "a", "output": "b"},\n\n  {\n    "instruction": "c",\n'
                 '    "input": "d"\n  }\n]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"t2\.json:4, field 'output': missing"):
        load_alpaca_file(f)


def test_malformed_json_list_names_line(tmp_path):
    f = tmp_path / "t3.json"
    f.write_text('[\n {"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}\n]\n',
                 encoding="utf-8")
    with pytest.raises(InputError, match=r"t3\.json:3: malformed JSON"):
        load_alpaca_file(f)


def test_empty_task_names_file(tmp_path):
    for f in (write_lines(tmp_path / "e.jsonl", ["", "  "]), tmp_path / "e.json"):
        if f.suffix == ".json":
            f.write_text("[]", encoding="utf-8")
        with pytest.raises(InputError, match=rf"^{f}: no examples"):
            load_alpaca_file(f)


# --------------------------------------------------------------------------- folders and load_tasks


def make_task_dir(root: Path) -> Path:
    root.mkdir()
    jsonl(root / "b_second.jsonl", [{"instruction": "B", "output": "1"}])
    jsonl(root / "a_first.jsonl", [{"instruction": "A", "output": "1"}, {"instruction": "A2", "output": "2"}])
    (root / "c_third.json").write_text(json.dumps([{"instruction": "C", "output": "1"}]), encoding="utf-8")
    (root / "notes.txt").write_text("ignored", encoding="utf-8")
    return root


def test_task_dir_sorted_by_name(tmp_path):
    tasks = load_task_dir(make_task_dir(tmp_path / "d"))
    assert [t.name for t in tasks] == ["a_first", "b_second", "c_third"]
    assert [len(t) for t in tasks] == [2, 1, 1]


def test_train_test_pair_is_one_task_with_its_split(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    jsonl(d / "X.train.jsonl", [{"instruction": "x", "output": "1", "id": "x1"},
                                {"instruction": "x", "output": "2", "id": "x2"}])
    jsonl(d / "X.test.jsonl", [{"instruction": "x", "output": "3", "id": "x3"}])
    (task,) = load_task_dir(d)
    assert task.name == "X" and len(task) == 3
    assert task.metadata["split"] == {"train": ["x1", "x2"], "test": ["x3"]}


def test_load_tasks_files_order_and_errors(tmp_path):
    d = make_task_dir(tmp_path / "d")
    files = [d / "b_second.jsonl", d / "a_first.jsonl"]
    assert [t.name for t in load_tasks(files)] == ["b_second", "a_first"]
    assert [t.name for t in load_tasks([d], order=["c_third", "a_first"])] == ["c_third", "a_first"]
    with pytest.raises(InputError) as info:
        load_tasks([d], order=["a_first", "zzz"])
    msg = str(info.value)
    assert "field '--order'" in msg and "'zzz'" in msg and "a_first, b_second, c_third" in msg
    with pytest.raises(InputError, match="used twice"):
        load_tasks([d / "a_first.jsonl", d / "a_first.jsonl"])
    with pytest.raises(InputError, match="listed twice"):
        load_tasks([d], order=["a_first", "a_first"])
    with pytest.raises(InputError, match="no such file"):
        load_tasks([tmp_path / "missing.jsonl"])


def test_load_tasks_reads_an_upstream_task_file(tmp_path):
    f = superni_file(tmp_path / "task001_demo.json", "Answer the question.", [("q1", "a1"), ("q2", "a2")])
    (task,) = load_tasks([f])
    assert task.name == "task001_demo"
    assert [e.output for e in task] == ["a1", "a2"]
    assert load_superni_task_file(f)[0].instruction == "Answer the question."


def test_superni_dir_with_order_and_cap(tmp_path):
    root = tmp_path / "sn"
    superni_file(root / "tasks" / "t1.json", "Def one.", [("a", "1"), ("b", "2"), ("c", "3")])
    superni_file(root / "tasks" / "t2.json", "Def two.", [("d", "4")])
    superni_file(root / "tasks" / "t3.json", "Def tres.", [("e", "5")], language="Spanish")
    (root / "categories.json").write_text(json.dumps({"Misc": ["t1.json", "t3.json"], "Code": ["t2.json"]}))
    tasks = load_tasks([root])
    assert [t.name for t in tasks] == ["Misc", "Code"]
    assert [e.id for e in tasks[0]] == ["t1-0", "t1-1", "t1-2"]  # the Spanish t3 is skipped
    assert {e.task for e in tasks[0]} == {"Misc"}
    assert [t.name for t in load_tasks([root], order="reverse")] == ["Misc", "Code"]  # a preset
    assert [t.name for t in load_tasks([root], order="Code,Misc")] == ["Code", "Misc"]
    capped = load_superni_dir(root, order="curriculum", max_per_task=2)
    assert [(t.name, len(t)) for t in capped] == [("Code", 1), ("Misc", 2)]


# --------------------------------------------------------------------------- CLI errors


def test_cli_bad_task_file_exit_2_one_line_no_output(tmp_path, capsys):
    root = tmp_path / "sn"
    superni_file(root / "tasks" / "good.json", "Def.", [("a", "1")])
    (root / "tasks" / "bad.json").write_text('{"Definition": ["x"], "Instances": [\n  {"id": 1,}\n]}')
    (root / "categories.json").write_text(json.dumps({"Misc": ["good.json"], "Code": ["bad.json"]}))
    out = tmp_path / "out"
    rc = main(["data", "superni", "--tasks-dir", str(root), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "bad.json:2" in err and "malformed JSON" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sn"]  # no temp folder left either


def test_cli_missing_listed_task_file(tmp_path, capsys):
    root = tmp_path / "sn"
    superni_file(root / "tasks" / "good.json", "Def.", [("a", "1")])
    (root / "categories.json").write_text('{\n  "Misc": [\n    "good.json",\n    "gone.json"\n  ]\n}\n')
    rc = main(["data", "superni", "--tasks-dir", str(root), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert f"{root / 'categories.json'}:4, field 'Misc[1]'" in err and "gone.json" in err
    assert not (tmp_path / "out").exists()


def test_cli_check_unknown_order(tmp_path, capsys):
    d = make_task_dir(tmp_path / "d")
    assert main(["data", "check", "--tasks", str(d), "--order", "c_third", "a_first"]) == 0
    out = capsys.readouterr().out
    assert out.index("c_third") < out.index("a_first") and "b_second" not in out
    assert main(["data", "check", "--tasks", str(d), "--order", "nope"]) == 2
    assert "field '--order'" in capsys.readouterr().err


def test_single_object_json_is_refused_with_a_hint(tmp_path):
    f = superni_file(tmp_path / "task002_x.json", "Def.", [("a", "1")])
    with pytest.raises(InputError, match=r"task002_x\.json:1: .*one object \(a SuperNI task file"):
        load_alpaca_file(f)
    d = tmp_path / "d"
    d.mkdir()
    f.rename(d / f.name)
    jsonl(d / "plain.jsonl", [{"instruction": "P", "output": "1"}])
    assert [(t.name, len(t)) for t in load_task_dir(d)] == [("plain", 1), ("task002_x", 1)]


def test_cli_superni_out_that_holds_the_input_is_refused(tmp_path, capsys):
    # A folder with an old build's manifest.json would be replaced as a whole: if it holds
    # the SuperNI folder, the input would go with it.
    root = tmp_path / "data" / "sn"
    superni_file(root / "tasks" / "good.json", "Def.", [("a", "1"), ("b", "2"), ("c", "3")])
    (root / "categories.json").write_text(json.dumps({"Misc": ["good.json"]}))
    (tmp_path / "data" / "manifest.json").write_text("{}")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for out in (tmp_path / "data", root, root / "tasks" / "out"):
        rc = main(["data", "superni", "--tasks-dir", str(root), "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "the input path" in err and "field '--out'" in err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
