"""The generated demo stream: deterministic, varied, correct by its rules, readable by the loader."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from inscl.data import load_tasks
from inscl.demo.stream import MANIFEST_FILE, TASK_NAMES, generate_stream, write_stream
from inscl.errors import InputError


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_writes_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    write_stream(tmp_path / "a", n_examples=30, seed=3)
    write_stream(tmp_path / "b", n_examples=30, seed=3)
    write_stream(tmp_path / "c", n_examples=30, seed=4)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert a != c


def test_stream_has_six_or_more_tasks_each_with_several_weighted_instructions() -> None:
    stream = generate_stream(n_examples=80, seed=0)
    assert len(stream) >= 6
    assert len({t.metadata["kind"] for t in stream}) >= 5
    all_instructions = set()
    for task in stream:
        counts = task.instruction_counts()
        assert 4 <= len(counts) <= 8, task.name
        assert len(set(counts.values())) > 1, f"{task.name}: phrasings should not be uniform"
        assert not all_instructions & set(counts), "instructions must be task-specific"
        all_instructions |= set(counts)
        assert len({e.input for e in task}) > len(task) // 4, f"{task.name}: inputs should vary"
        assert len({e.id for e in task}) == len(task)
    # some vocabulary is shared across tasks, so embeddings/tags carry signal
    words = [set(re.findall(r"[a-z]+", " ".join(t.instructions()).lower())) for t in stream]
    assert any(len(words[i] & words[j] - {"the", "a", "and", "of", "in", "is", "or", "to"}) > 0
               for i in range(len(words)) for j in range(i + 1, len(words)))


def test_answers_follow_each_tasks_rule() -> None:
    rules = {
        "add_numbers": lambda x: str(sum(int(v) for v in x.split(" and "))),
        "uppercase_word": str.upper,
        "even_or_odd": lambda x: "even" if int(x) % 2 == 0 else "odd",
        "list_max": lambda x: str(max(int(v) for v in x.split(", "))),
        "name_last_first": lambda x: "{1}, {0}".format(*x.split(" ")),
        "date_to_iso": lambda x: datetime.strptime(x, "%B %d, %Y").strftime("%Y-%m-%d"),
    }
    stream = {t.name: t for t in generate_stream(n_examples=50, seed=7)}
    assert set(rules) <= set(stream)
    for name, rule in rules.items():
        for e in stream[name]:
            assert e.output == rule(e.input), (name, e.input, e.output)
    for e in stream["extract_city"]:
        assert e.output in e.input and e.output[0].isupper() and " " not in e.output
    for e in stream["keyword_sentiment"]:
        assert e.output in ("positive", "negative")


def test_outputs_are_short() -> None:
    for task in generate_stream(n_examples=40, seed=0):
        assert all(len(e.output) <= 16 and len(e.input) <= 60 for e in task), task.name


def test_written_stream_loads_with_the_loader_in_manifest_order(tmp_path: Path) -> None:
    order = ["list_max", "add_numbers", "date_to_iso", "uppercase_word", "even_or_odd", "extract_city"]
    paths = write_stream(tmp_path, n_examples=25, seed=1, tasks=order)
    assert [p.stem for p in paths] == order
    assert (tmp_path / MANIFEST_FILE).is_file()
    tasks = load_tasks(tmp_path)
    assert [t.name for t in tasks] == order
    expected = {t.name: t for t in generate_stream(n_examples=25, seed=1, tasks=order)}
    for task in tasks:
        assert [(e.instruction, e.input, e.output, e.id) for e in task] == \
               [(e.instruction, e.input, e.output, e.id) for e in expected[task.name]]


def test_unknown_task_is_an_input_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown demo task 'nope'"):
        write_stream(tmp_path / "out", tasks=["add_numbers", "nope"])
    assert not (tmp_path / "out").exists()
    assert "add_numbers" in TASK_NAMES


def test_cli_write_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inscl.cli import main

    assert main(["demo", "--write-data", str(tmp_path / "d"), "--data-seed", "2"]) == 0
    assert sorted(p.stem for p in (tmp_path / "d").glob("*.jsonl")) == sorted(TASK_NAMES)
    assert str(tmp_path / "d") in capsys.readouterr().out
    write_stream(tmp_path / "ref", seed=2)
    assert _files(tmp_path / "d") == _files(tmp_path / "ref")
