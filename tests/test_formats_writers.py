"""Writers: replay and mixtures in the input's own format (round trip), --format conversions,
LLaMA-Factory dataset_info.json entries, Parquet/datasets output."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from inscl.cli import main
from inscl.data import load_tasks

# LLaMA-Factory's documented dataset_info.json keys (data/README.md of LLaMA-Factory 0.9.x).
LF_ENTRY_KEYS = {"hf_hub_url", "ms_hub_url", "script_url", "cloud_file_name", "file_name", "file_sha1",
                 "formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"}
LF_COLUMN_KEYS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
                  "audios", "chosen", "rejected", "kto_tag"}
LF_TAG_KEYS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag",
               "system_tag"}


def sharegpt_records(task: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        conv = [{"from": "human", "value": f"{task}: request {i % 5} — “quoted” ünïcode"},
                {"from": "gpt", "value": f"reply {i}\n\twith a tab"}]
        if i % 2:
            conv += [{"from": "human", "value": "Follow-up?"}, {"from": "gpt", "value": "Sure."}]
        record = {"id": f"{task}_{i}", "conversations": conv}
        if i % 3 == 0:
            record["system"] = f"You help with {task}."
        if i % 4 == 0:
            record["meta"] = {"score": 0.5, "tags": [1, None, True]}  # any extra JSON survives
        out.append(record)
    return out


def messages_records(task: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": "Be exact."}] if i % 2 else []
        msgs += [{"role": "user", "content": f"{task} question {i % 4}"},
                 {"role": "assistant", "content": f"answer {i}"}]
        out.append({"messages": msgs, "task": task})
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def plan(tmp_path: Path, files: list[Path], out: str, *extra: str) -> Path:
    args = ["-q", "plan", "--tasks", *map(str, files), "--strategy", "inscl", "--encoder", "hashing",
            "--tagger", "offline", "--budget", "4", "--out", str(tmp_path / out), *extra]
    assert main(args) == 0
    return tmp_path / out


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def lf_conversation(entry: dict, record: dict) -> tuple[str | None, list[tuple[str, str]]]:
    """What LLaMA-Factory reads from a record, following its documented dataset_info semantics."""
    cols, tags = entry.get("columns", {}), entry.get("tags", {})
    if entry.get("formatting", "alpaca") == "alpaca":
        turns = []
        for q, a in record.get(cols.get("history", ""), None) or []:
            turns += [("user", q), ("assistant", a)]
        prompt = record[cols.get("prompt", "instruction")]
        query = record.get(cols.get("query", "input")) or ""
        turns += [("user", f"{prompt}\n{query}" if query else prompt),
                  ("assistant", record[cols.get("response", "output")])]
        return record.get(cols.get("system", ""), None), turns
    role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    names = {tags.get("user_tag", "human"): "user", tags.get("assistant_tag", "gpt"): "assistant",
             tags.get("system_tag", "system"): "system"}
    messages = record[cols.get("messages", "conversations")]
    system = record.get(cols["system"]) if "system" in cols else None
    if messages and names.get(messages[0][role]) == "system":
        system, messages = messages[0][content], messages[1:]
    return system, [(names[m[role]], m[content]) for m in messages]


def check_llamafactory(out: Path) -> dict:
    info = json.loads((out / "dataset_info.json").read_text())
    assert info
    for name, entry in info.items():
        assert set(entry) <= LF_ENTRY_KEYS, name
        assert entry["formatting"] in ("alpaca", "sharegpt")
        assert set(entry.get("columns", {})) <= LF_COLUMN_KEYS
        assert set(entry.get("tags", {})) <= LF_TAG_KEYS
        records = [json.loads(x) for x in lines(out / entry["file_name"])]
        for record in records:
            _, turns = lf_conversation(entry, record)
            assert turns and turns[0][0] == "user" and turns[-1][0] == "assistant"
            # LLaMA-Factory wants user turns at odd and assistant turns at even positions.
            assert [r for r, _ in turns] == ["user", "assistant"] * (len(turns) // 2)
    return info


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("make", [sharegpt_records, messages_records])
def test_plan_writes_input_records_back_unchanged(tmp_path, make):
    inputs = {name: make(name, 14) for name in ("alpha", "beta", "gamma")}
    files = [write_jsonl(tmp_path / f"{name}.jsonl", records) for name, records in inputs.items()]
    out = plan(tmp_path, files, "plan")
    doc = json.loads((out / "plan.json").read_text())
    assert doc["format_version"] == 4 and doc["record_format"] == make.__name__.split("_")[0]
    # Every written line is, byte for byte, the JSON of an input record.
    originals = {json.dumps(r, ensure_ascii=False) for records in inputs.values() for r in records}
    for stage in doc["stages"]:
        replay = lines(out / stage["dir"] / "replay.jsonl")
        mixture = lines(out / stage["dir"] / "mixture.jsonl")
        assert set(replay) | set(mixture) <= originals
        assert set(replay) <= set(mixture) and len(mixture) == stage["mixture_size"]
        assert len(replay) == stage["replay_total"]
    assert sum(doc["stages"][-1]["quotas"].values()) == 8
    for name, records in inputs.items():
        split = lines(out / "data" / f"{name}.train.jsonl") + lines(out / "data" / f"{name}.test.jsonl")
        assert sorted(split) == sorted(json.dumps(r, ensure_ascii=False) for r in records)
    info = check_llamafactory(out)
    entry = info[doc["stages"][1]["dataset"]]
    if make is sharegpt_records:
        assert entry["columns"] == {"messages": "conversations", "system": "system"}
        assert (entry["tags"]["role_tag"], entry["tags"]["user_tag"]) == ("from", "human")
    else:
        assert entry["columns"] == {"messages": "messages"}
        assert entry["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant", "system_tag": "system", "observation_tag": "tool"}


def test_format_conversions_keep_the_conversation(tmp_path):
    src = write_jsonl(tmp_path / "chat.jsonl", sharegpt_records("chat", 12))
    alp = write_jsonl(tmp_path / "alp.jsonl", [{"instruction": "Add one.", "input": str(i), "output": str(i + 1)}
                                               for i in range(12)])
    tasks = {t.name: t for t in load_tasks([src, alp])}
    for fmt in ("sharegpt", "messages", "alpaca", "prompt_completion"):
        out = plan(tmp_path, [src, alp], fmt, "--format", fmt)
        doc = json.loads((out / "plan.json").read_text())
        assert doc["record_format"] == fmt
        mixture = out / doc["stages"][1]["dir"] / "mixture.jsonl"
        records = [json.loads(x) for x in lines(mixture)]
        by_id = {r["id"]: r for r in records}
        train = {json.loads(x)["id"] for x in lines(out / doc["data"]["alp"]["train"])}
        assert set(by_id) == train | set(doc["stages"][1]["selected"]["chat"])
        if fmt != "prompt_completion":  # LLaMA-Factory has no conversational prompt-completion
            info = check_llamafactory(out)
            entry = info[doc["stages"][1]["dataset"]]
            for e in [*tasks["chat"], *tasks["alp"]]:
                if e.id in by_id:
                    system, turns = lf_conversation(entry, by_id[e.id])
                    if e.source is None:  # alpaca: one exchange, the LLaMA-Factory prompt
                        assert (system, turns) == (None, [("user", f"{e.instruction}\n{e.input}"),
                                                          ("assistant", e.output)])
                    else:  # the whole conversation, system prompt included
                        conv = e.source["conversations"]
                        assert system == e.source.get("system")
                        assert turns == [("user" if t["from"] == "human" else "assistant", t["value"])
                                         for t in conv]
        # Read back, the chat examples give the same InsCL instruction and output.
        if fmt in ("sharegpt", "messages"):
            chat = write_jsonl(tmp_path / f"back-{fmt}.jsonl", [r for r in records if r["id"].startswith("chat_")])
            back = {e.id: e for e in load_tasks(chat)[0]}
            for e in tasks["chat"]:
                if e.id in back:
                    assert (back[e.id].instruction, back[e.id].output) == (e.instruction, e.output)
    # Mixed alpaca and conversation tasks default to sharegpt (no conversation is cut).
    out = plan(tmp_path, [src, alp], "default")
    assert json.loads((out / "plan.json").read_text())["record_format"] == "sharegpt"
    # prompt_completion of conversations is TRL's conversational form.
    pc = [json.loads(x) for x in lines(next((tmp_path / "prompt_completion").glob("stage_02_*/mixture.jsonl")))]
    assert all(isinstance(r["prompt"], list) and r["completion"][0]["role"] == "assistant" for r in pc)


def test_alpaca_only_prompt_completion_is_standard_and_registered(tmp_path):
    files = [write_jsonl(tmp_path / f"{n}.jsonl", [{"instruction": f"Do {n}.", "input": f"x{i}", "output": "y"}
                                                   for i in range(8)]) for n in ("a", "b")]
    out = plan(tmp_path, files, "pc", "--format", "prompt_completion")
    records = [json.loads(x) for x in lines(out / "stage_02_b" / "mixture.jsonl")]
    assert all(r["prompt"] == f"Do {r['task']}.\nx{r['id'].split('-')[1]}" and r["completion"] == "y"
               for r in records)
    info = check_llamafactory(out)
    assert info["inscl_stage_02_b"]["columns"] == {"prompt": "prompt", "response": "completion"}


def test_mapped_conversation_column_is_registered_by_its_name(tmp_path):
    records = [{"dialog": r["conversations"], "id": r["id"]} for r in sharegpt_records("d", 10)]
    files = [write_jsonl(tmp_path / "d.jsonl", records),
             write_jsonl(tmp_path / "e.jsonl", [{**r, "id": "e" + r["id"]} for r in records])]
    out = plan(tmp_path, files, "mapped", "--columns", "conversations=dialog")
    originals = {json.dumps(r, ensure_ascii=False) for r in records}
    assert set(lines(out / "stage_01_d" / "mixture.jsonl")) <= originals
    info = check_llamafactory(out)
    assert info["inscl_stage_02_e"]["columns"] == {"messages": "dialog"}


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_stages_as_datasets(tmp_path, kind):
    files = [write_jsonl(tmp_path / f"{n}.jsonl", messages_records(n, 10)) for n in ("a", "b")]
    out = plan(tmp_path, files, "ds", "--write-datasets", kind)
    doc = json.loads((out / "plan.json").read_text())
    stage = doc["stages"][1]
    path = out / stage["datasets"]["mixture"]
    ds = datasets.Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "hf")) if kind == "parquet" \
        else datasets.load_from_disk(str(path))
    assert ds.to_list() == [json.loads(x) for x in lines(out / stage["dir"] / "mixture.jsonl")]
    assert set(stage["datasets"]) == {"mixture", "replay"}
    assert set(doc["stages"][0]["datasets"]) == {"mixture"}  # stage 1 replays nothing
