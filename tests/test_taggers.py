"""Taggers: offline key phrases, reply parsing, the crash-safe tag cache, a local LLM, and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from inscl.errors import InputError
from inscl.taggers import CachedTagger, TagCache, make_tagger, read_tags_jsonl
from inscl.taggers.offline import OfflineTagger, candidates
from inscl.taggers.parsing import TagParseError, parse_tags
from inscl.taggers.result import TagResult

INSTRUCTIONS = [
    "Classify the sentiment of the given movie review as positive or negative.",
    "Translate the following sentence from English into French.",
    "In this task, you need to answer basic science questions. Choose the correct option.",
    "Generate a title for the given news article.",
]
TAG_SHAPE = re.compile(r"^[a-z]+( [a-z]+)*$")


def test_offline_tagger_tags() -> None:
    tagger = make_tagger("offline")
    tags = tagger.tag(INSTRUCTIONS + [INSTRUCTIONS[0]])
    assert list(tags) == INSTRUCTIONS
    for s in INSTRUCTIONS:
        assert 1 <= len(tags[s]) <= 8 and len(set(tags[s])) == len(tags[s])
        assert all(TAG_SHAPE.match(t) for t in tags[s]), tags[s]
    # intention-level tags: the task verb and its object, nominalised
    assert tags[INSTRUCTIONS[0]] == ["sentiment classification"]
    assert tags[INSTRUCTIONS[1]] == ["sentence translation"]
    assert tags[INSTRUCTIONS[2]] == ["question answering", "option selection"]  # two sentences, two intentions
    assert tags[INSTRUCTIONS[3]] == ["title generation"]
    # deterministic across instances and independent of the other instructions of the call
    assert OfflineTagger().tag(INSTRUCTIONS) == tags
    assert OfflineTagger().tag([INSTRUCTIONS[2]])[INSTRUCTIONS[2]] == tags[INSTRUCTIONS[2]]
    assert len(OfflineTagger(top_k=1).tag(INSTRUCTIONS[2:3])[INSTRUCTIONS[2]]) == 1


def test_offline_tag_count_follows_the_instruction() -> None:
    from inscl.taggers.offline import intention_units

    short = "Translate the sentence into French."
    long = ("You are given a product review. Decide whether the review is positive or negative. "
            "Answer with 'yes' or 'no' only. Do not explain your answer, and keep it shorter than five words. "
            "For example, a review that praises the battery life is positive.")
    assert len(intention_units(short)) == 1 and len(intention_units(long)) == 5
    tags = OfflineTagger().tag([short, long])
    assert len(tags[short]) == 1 and len(tags[long]) == 5
    # a shared vocabulary: constraint sentences map to intention-level tags
    assert {"binary classification", "example provision"} <= set(tags[long])
    # a long sentence is cut at commas and conjunctions into units of >= clause_words // 2 words
    run_on = ", ".join(f"then sort the list number {k} by its value" for k in range(6)) + "."
    assert len(intention_units(run_on, clause_words=20)) == 3  # six 9-word parts, joined in pairs
    with pytest.raises(InputError):
        OfflineTagger(clause_words=1)


def test_offline_candidates_skip_boilerplate() -> None:
    text = "In this task, you are given a list of numbers. Sort the numbers."
    phrases = [c.phrase for c in candidates(text)]
    assert "sort number" in phrases and "list" in phrases
    assert not any(w in p.split() for p in phrases for w in ("task", "given", "you", "the"))
    with pytest.raises(InputError):
        OfflineTagger(top_k=0)


@pytest.mark.parametrize("reply, tags", [
    ('[{"tag": "translation", "explanation": "x"}, {"tag": "french", "explanation": "y"}]',
     ["translation", "french"]),
    ('Sure!\n```json\n[{"tag": "summary", "explanation": "e"}]\n```\nAnything else?', ["summary"]),
    ('```\n[{"tag": "a"}]\n```', ["a"]),
    ('{"tag": "single object", "explanation": "only one"}', ["single object"]),
    ('["plain", "strings", "plain"]', ["plain", "strings"]),
    ('{"tag": "one"}\n{"tag": "two"}', ["one", "two"]),
    ("Here: [{'tag': 'python quotes', 'explanation': 'e'}]", ["python quotes"]),
    ('{"tags": [{"tag": "nested"}]}', ["nested"]),
    ('The tags are: [{"tag": " padded "}] -- done', ["padded"]),
    ("[]", []),
])
def test_parse_tags_accepts(reply: str, tags: list[str]) -> None:
    assert parse_tags(reply) == tags


@pytest.mark.parametrize("reply", ["no json here", '{"explanation": "no tag"}', "[1, 2, 3]",
                                   '[{"tag": "cut off"', ""])
def test_parse_tags_rejects(reply: str) -> None:
    with pytest.raises(TagParseError):
        parse_tags(reply)


def test_tag_cache_tolerates_truncated_last_line(tmp_path: Path) -> None:
    cache = TagCache(tmp_path, "tagger-x")
    cache.add("first", ["a", "b"])
    cache.add("second", ["c"])
    cache.close()
    with open(cache.path, "a", encoding="utf-8") as fh:  # a crash in the middle of a write
        fh.write('{"instruction": "third", "tags": ["d"')
    reopened = TagCache(tmp_path, "tagger-x")
    assert reopened.tags == {"first": ["a", "b"], "second": ["c"]}
    reopened.add("third", ["d"])
    reopened.close()
    lines = cache.path.read_text().splitlines()
    assert [json.loads(x)["instruction"] for x in lines] == ["first", "second", "third"]
    assert all(json.loads(x)["tagger"] == "tagger-x" for x in lines)
    # a complete last line that only lacks its newline is kept
    cache.path.write_text(cache.path.read_text().rstrip("\n"))
    again = TagCache(tmp_path, "tagger-x")
    again.add("fourth", [])
    again.close()
    assert read_tags_jsonl(cache.path) == {"first": ["a", "b"], "second": ["c"], "third": ["d"], "fourth": []}


def test_read_tags_jsonl_strict_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "tags.jsonl"
    bad.write_text('{"instruction": "a", "tags": ["x"]}\nnot json\n{"instruction": "b", "tags": []}\n')
    with pytest.raises(InputError, match=r"tags.jsonl:2"):
        read_tags_jsonl(bad)
    bad.write_text('{"instruction": "a", "tags": "x"}\n')
    with pytest.raises(InputError, match=r"tags.jsonl:1.*field 'tags'"):
        read_tags_jsonl(bad)


class ListTagger:
    """A streaming tagger that fails on instructions containing 'bad' (to drive CachedTagger)."""

    id = "list-tagger"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def tag_iter(self, instructions):
        for s in instructions:
            self.calls.append(s)
            yield TagResult(s, None, "refused", 2) if "bad" in s else TagResult(s, [s.split()[0]])


def test_cached_tagger_resumes_and_records_failures(tmp_path: Path) -> None:
    inner = ListTagger()
    tagger = CachedTagger(inner, tmp_path, progress=False)
    got = tagger.tag(["alpha x", "bad y", "beta z"])
    assert got == {"alpha x": ["alpha"], "bad y": [], "beta z": ["beta"]}
    assert [f.instruction for f in tagger.last_failures] == ["bad y"]
    failures = [json.loads(x) for x in tagger.cache.failures_path.read_text().splitlines()]
    assert failures == [{"instruction": "bad y", "error": "refused", "attempts": 2, "tagger": "list-tagger"}]
    inner2 = ListTagger()
    again = CachedTagger(inner2, tmp_path, progress=False)
    again.tag(["alpha x", "bad y", "beta z", "gamma w"])
    assert inner2.calls == ["bad y", "gamma w"]  # failures are retried, successes never


@pytest.fixture(scope="module")
def tiny_chat_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inscl.runner.models import tiny_model, tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny_chat_llama")
    tok = tiny_tokenizer()
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    tiny_model(tok, hidden=32).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_local_llm_tagger_records_garbage_cleanly(tiny_chat_llama: Path, tmp_path: Path) -> None:
    tagger = make_tagger(f"local:{tiny_chat_llama}", cache_dir=tmp_path, progress=False, device="cpu",
                         max_new_tokens=8)
    out = tagger.tag(INSTRUCTIONS[:3])
    assert list(out) == INSTRUCTIONS[:3]
    assert all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in out.values())
    failed = {f.instruction for f in tagger.last_failures}
    cached = read_tags_jsonl(tagger.cache.path) if tagger.cache.path.exists() else {}
    assert failed | set(cached) == set(INSTRUCTIONS[:3]) and not failed & set(cached)
    if failed:  # a random model's bytes are (almost surely) not a JSON tag list
        lines = [json.loads(x) for x in tagger.cache.failures_path.read_text().splitlines()]
        assert {r["instruction"] for r in lines} == failed
        assert all("no JSON tag list" in r["error"] and r["attempts"] == 1 for r in lines)
    # the chat template was applied to the InsTag prompt
    assert tagger.inner.prompt("Q").startswith("<system>You are a helpful assistant.")


def test_unknown_tagger_spec() -> None:
    with pytest.raises(InputError, match="offline, offline:ENCODER, openai:MODEL, local:PATH"):
        make_tagger("gpt4")
    with pytest.raises(InputError, match="does not take"):
        make_tagger("offline", base_url="http://x")


# -- end to end: inscl tag + inscl embed (+ inscl plan) on the SuperNI subset -------------------

def _superni_files(superni_dir: Path, n_categories: int = 2) -> list[str]:
    categories = json.loads((superni_dir / "categories.json").read_text())
    names = [f for files in list(categories.values())[:n_categories] for f in files]
    return [str(superni_dir / "tasks" / f) for f in names]


@pytest.fixture(scope="module")
def cli_outputs(superni_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from inscl.cli import main

    tmp = tmp_path_factory.mktemp("cli")
    files = _superni_files(superni_dir)
    tags, emb, cache = tmp / "tags.jsonl", tmp / "emb.npz", tmp / "cache"
    rc_tag = main(["--quiet", "tag", "--tasks", *files, "--tagger", "offline", "--cache-dir", str(cache),
                   "--out", str(tags)])
    rc_embed = main(["--quiet", "embed", "--tasks", *files, "--encoder", "minilm", "--cache-dir", str(cache),
                     "--out", str(emb), "--tags", str(tags)])
    return {"files": files, "tags": tags, "emb": emb, "cache": cache, "rc": (rc_tag, rc_embed), "tmp": tmp}


@pytest.mark.superni
def test_cli_tag_and_embed_on_superni(cli_outputs: dict) -> None:
    from inscl.data import load_tasks

    assert cli_outputs["rc"] == (0, 0)
    instructions = list(dict.fromkeys(s for t in load_tasks(cli_outputs["files"]) for s in t.instructions()))
    records = [json.loads(x) for x in cli_outputs["tags"].read_text().splitlines()]
    assert [r["instruction"] for r in records] == instructions
    assert all(r["tags"] and all(TAG_SHAPE.match(t) for t in r["tags"]) for r in records)
    with np.load(cli_outputs["emb"]) as data:
        texts, matrix = list(data["texts"]), data["embeddings"]
    assert texts[:len(instructions)] == instructions
    assert {t for r in records for t in r["tags"]} <= set(texts)
    assert matrix.dtype == np.float32 and matrix.shape == (len(texts), 384)
    assert len(list(cli_outputs["cache"].glob("*.sqlite"))) == 1


@pytest.mark.superni
def test_cli_errors_leave_no_output(cli_outputs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from inscl.cli import main

    out = cli_outputs["tmp"] / "never.jsonl"
    assert main(["tag", "--tasks", *cli_outputs["files"], "--tagger", "gpt4", "--out", str(out),
                 "--cache-dir", str(cli_outputs["cache"])]) == 2
    assert main(["embed", "--tasks", *cli_outputs["files"], "--encoder", "nope", "--out", str(out),
                 "--cache-dir", str(cli_outputs["cache"])]) == 2
    assert main(["tag", "--tasks", *cli_outputs["files"], "--concurrency", "3", "--out", str(out),
                 "--cache-dir", str(cli_outputs["cache"])]) == 2
    err = capsys.readouterr().err
    assert "unknown tagger 'gpt4'" in err and "unknown encoder 'nope'" in err and "--concurrency" in err
    assert not out.exists()


@pytest.mark.superni
def test_cli_plan_reads_tag_and_embed_outputs(cli_outputs: dict) -> None:
    for module in ("inscl.replay.tags", "inscl.replay.insinfo", "inscl.replay.distance", "inscl.replay.quotas", "inscl.replay.selectors"):
        pytest.importorskip(module)
    from inscl.cli import main

    out = cli_outputs["tmp"] / "plan"
    rc = main(["--quiet", "plan", "--tasks", *cli_outputs["files"], "--strategy", "inscl", "--budget", "4",
               "--embeddings", str(cli_outputs["emb"]), "--tags", str(cli_outputs["tags"]),
               "--out", str(out)])
    assert rc == 0
    plan = json.loads((out / "plan.json").read_text())
    assert len(plan["stages"]) == len(cli_outputs["files"])
    last = plan["stages"][-1]
    assert sum(last["quotas"].values()) == 4 * (len(cli_outputs["files"]) - 1)
    assert any(scores for scores in last["insinfo"].values())
