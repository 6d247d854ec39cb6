"""Intention tags in every shape taggers return, wherever tags are read (--tags, the runner's tags_file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.data.precomputed import load_tags
from inscl.errors import InputError
from inscl.runner.experiment import read_tags_file

EXPECTED = {"Translate to French.": ["translation", "french"], "Sum the numbers.": ["arithmetic"]}
INSTAG = {"Translate to French.": [{"tag": "translation", "explanation": "The user wants a translation."},
                                   {"tag": "french", "explanation": "Into French."}],
          "Sum the numbers.": [{"tag": "arithmetic", "explanation": "Adding numbers."}]}
RAW = {"Translate to French.": '```json\n[{"tag": "translation", "explanation": "x"}, '
                               '{"tag": "french", "explanation": "y"}]\n```',
       "Sum the numbers.": 'Here are the tags: ["arithmetic"]'}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def records(table: dict) -> list[dict]:
    return [{"instruction": k, "tags": v, "task_file": "x.json"} for k, v in table.items()]


@pytest.mark.parametrize("table", [EXPECTED, INSTAG, RAW], ids=["strings", "instag", "raw-reply"])
def test_every_shape_in_json_and_jsonl(tmp_path, table):
    files = [write(tmp_path / "t.jsonl", "".join(json.dumps(r) + "\n" for r in records(table))),
             write(tmp_path / "list.json", json.dumps(records(table), indent=2)),
             write(tmp_path / "map.json", json.dumps(table))]
    for f in files:
        assert load_tags(f) == EXPECTED, f.name
        assert read_tags_file(f) == EXPECTED, f.name  # the runner's replay.tags_file
    one = write(tmp_path / "one.json", json.dumps(records(table)[0]))
    assert load_tags(one) == {"Translate to French.": ["translation", "french"]}


def test_instructions_with_surrounding_whitespace_match_stripped_text(tmp_path):
    f = write(tmp_path / "t.jsonl", json.dumps({"instruction": "Detect the stance. ", "tags": ["stance"]}) + "\n")
    assert load_tags(f) == {"Detect the stance. ": ["stance"], "Detect the stance.": ["stance"]}


@pytest.mark.parametrize("line,field,reason", [
    ('{"instruction": "a", "tags": 3}', "tags", "list of strings or InsTag objects"),
    ('{"instruction": "a", "tags": [{"tag": "x"}, {"explanation": "no tag"}]}', "tags[1].tag", 'string "tag"'),
    ('{"instruction": "a", "tags": ["x", 2]}', "tags[1]", "strings or InsTag objects"),
    ('{"instruction": "a", "tags": "I cannot tag this."}', "tags", "no JSON tag list"),
    ('{"tags": ["x"]}', "instruction", "instruction"),
])
def test_bad_tags_name_file_line_and_field(tmp_path, line, field, reason):
    f = write(tmp_path / "t.jsonl", '{"instruction": "ok", "tags": ["fine"]}\n' + line + "\n")
    with pytest.raises(InputError) as info:
        load_tags(f)
    assert str(info.value).startswith(f"{f}:2, field '{field}'") and reason in str(info.value)
    listed = write(tmp_path / "t.json", json.dumps([{"instruction": "ok", "tags": []}, "text"]))
    with pytest.raises(InputError, match=r"t\.json: expected a JSON object .*item 1 is a str"):
        load_tags(listed)


@pytest.mark.superni
def test_plan_reads_the_shared_llm_tags_unconverted(superni_dir, tmp_path, capsys):
    tags_file = superni_dir / "llm-tags.jsonl"
    first = json.loads(tags_file.read_text(encoding="utf-8").splitlines()[0])
    assert isinstance(first["tags"][0], dict) and set(first["tags"][0]) == {"tag", "explanation"}
    out = tmp_path / "plan"
    assert main(["-q", "plan", "--tasks", str(superni_dir), "--tags", str(tags_file), "--encoder", "hashing",
                 "--budget", "20", "--out", str(out)]) == 0, capsys.readouterr().err
    doc = json.loads((out / "plan.json").read_text())
    assert doc["strategy"] == "inscl" and len(doc["stages"]) == 16
    last = doc["stages"][-1]
    assert sum(last["quotas"].values()) == 20 * 15 and last["insinfo"]
