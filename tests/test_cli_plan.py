"""``inscl plan`` end to end: the SuperNI subset with precomputed embeddings and tags, the
written plan re-checked against the source files, and every bad input ending with one
clear line, exit 2 and no ``--out``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.data import load_tasks
from inscl.data.precomputed import save_embeddings
from inscl.encoders.hashing import HashingEncoder
from inscl.replay.tags import normalize_tag

KEYWORDS = ["answer", "question", "sentence", "classify", "generate", "summary", "translate", "review",
            "word", "number", "code", "dialogue", "sentiment", "label", "text", "story", "output", "list"]


def keyword_tags(instruction: str) -> list[str]:
    """A simple keyword tagger: the known keywords the instruction mentions (else 'other')."""
    words = set(re.findall(r"[a-z]+", instruction.lower()))
    return [k for k in KEYWORDS if k in words or k + "s" in words] or ["other"]


def superni_ids(superni_dir: Path) -> dict[str, set[str]]:
    categories = json.loads((superni_dir / "categories.json").read_text())
    ids: dict[str, set[str]] = {}
    for category, files in categories.items():
        ids[category] = set()
        for name in files:
            doc = json.loads((superni_dir / "tasks" / name).read_text())
            ids[category].update(inst["id"] for inst in doc["Instances"])
    return ids


def write_inputs(superni_dir: Path, folder: Path) -> tuple[Path, Path]:
    """A tag file (the tag-cache JSONL shape) and an .npz of instruction + tag embeddings."""
    # The instructions as the loader builds them (what `inscl embed` / `inscl tag` see).
    instructions = list(dict.fromkeys(s for t in load_tasks([superni_dir]) for s in t.instructions()))
    tags_path = folder / "tags.jsonl"
    tags_path.write_text("".join(json.dumps({"instruction": s, "tags": keyword_tags(s), "tagger": "kw"}) + "\n"
                                 for s in instructions))
    tag_texts = {t for s in instructions for t in keyword_tags(s)}
    tag_texts |= {normalize_tag(t) for t in tag_texts}
    texts = sorted(set(instructions) | tag_texts)
    emb_path = folder / "emb.npz"
    save_embeddings(emb_path, texts, HashingEncoder(dim=256).encode(texts))
    return tags_path, emb_path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.superni
def test_plan_superni(superni_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags_path, emb_path = write_inputs(superni_dir, tmp_path)
    out = tmp_path / "plan"
    budget = 15
    code, stdout, err = run_cli(["-q", "plan", "--tasks", str(superni_dir), "--strategy", "inscl",
                                 "--budget", str(budget), "--seed", "1", "--embeddings", str(emb_path),
                                 "--tags", str(tags_path), "--out", str(out)], capsys)
    assert code == 0, err
    doc = json.loads((out / "plan.json").read_text())
    categories = list(json.loads((superni_dir / "categories.json").read_text()))
    assert doc["order"] == categories and len(doc["stages"]) == len(categories)
    ids = superni_ids(superni_dir)
    for t, stage in enumerate(doc["stages"], start=1):
        assert stage["task"] == categories[t - 1]
        assert sum(stage["quotas"].values()) == min(budget * (t - 1), sum(stage["available"].values()))
        assert stage["wasserstein_method"] == ("exact" if t > 1 else None)
        for task, selected in stage["selected"].items():
            train_ids = {json.loads(line)["id"]
                         for line in (out / doc["data"][task]["train"]).read_text().splitlines()}
            assert len(selected) == stage["quotas"][task] == len(set(selected))
            assert set(selected) <= train_ids <= ids[task]
            assert stage["available"][task] == len(train_ids)
        mixture = (out / stage["dir"] / "mixture.jsonl").read_text().splitlines()
        assert len(mixture) == stage["train_size"] + sum(stage["quotas"].values())
    test_ids = {json.loads(line)["id"] for line in (out / "data" / f"{categories[0]}.test.jsonl").read_text().splitlines()}
    assert test_ids and test_ids <= ids[categories[0]]
    assert not test_ids & set(doc["stages"][-1]["selected"][categories[0]])
    info = json.loads((out / "dataset_info.json").read_text())
    assert all((out / e["file_name"]).is_file() for e in info.values())
    assert f"inscl_{doc['stages'][1]['dir']}" in info
    assert stdout == ""  # -q: no summary


def write_task(folder: Path, name: str, records: list[dict] | str) -> Path:
    path = folder / f"{name}.jsonl"
    text = records if isinstance(records, str) else "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(text)
    return path


def good_records(task: str, n: int = 6) -> list[dict]:
    return [{"instruction": f"Do {task} step {j % 2}.", "input": f"x{j}", "output": f"y{j}", "id": f"{task}-{j}"}
            for j in range(n)]


@pytest.fixture()
def task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    for name in ("alpha", "beta", "gamma"):
        write_task(folder, name, good_records(name))
    return folder


def test_plan_small_dir_with_order_and_summary(task_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(["plan", "--tasks", str(task_dir), "--order", "gamma,alpha", "--strategy", "random",
                                 "--budget", "2", "--encoder", "hashing", "--cache-dir", str(tmp_path / "cache"),
                                 "--out", str(out)], capsys)
    assert code == 0, err
    doc = json.loads((out / "plan.json").read_text())
    assert doc["order"] == ["gamma", "alpha"] and doc["stages"][1]["quotas"] == {"gamma": 2}
    lines = stdout.splitlines()
    assert lines[0].split() == ["stage", "task", "train", "replay", "quotas"]
    assert lines[2].split()[:4] == ["2", "alpha", "5", "2"] and "gamma=2" in lines[2]
    code, stdout, err = run_cli(["plan", "--tasks", str(task_dir), "--order-preset", "reverse", "--strategy",
                                 "multitask", "--encoder", "hashing", "--out", str(out), "--force"], capsys)
    assert code == 0, err
    assert json.loads((out / "plan.json").read_text())["order"] == ["gamma", "beta", "alpha"]


BAD_CASES = {
    "malformed_json": ('{"instruction": "a", "input": "", "output": "b"}\n{"instruction": "a", "output": \n',
                       r"bad\.jsonl:2\b.*malformed JSON"),
    "missing_output": ('{"instruction": "a", "input": "", "output": "b"}\n{"instruction": "a", "input": "c"}\n',
                       r"bad\.jsonl:2\b.*field 'output'"),
    "empty_task": ("\n", r"bad\.jsonl.*(empty|no (examples|records))"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_task_files(case: str, task_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, pattern = BAD_CASES[case]
    write_task(task_dir, "bad", text)
    out = tmp_path / "out"
    code, _, err = run_cli(["plan", "--tasks", str(task_dir), "--strategy", "random", "--encoder", "hashing",
                            "--out", str(out)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("inscl plan: error: ")
    assert re.search(pattern, err, re.IGNORECASE), err
    assert not out.exists()


@pytest.mark.parametrize(("extra", "pattern"), [
    (["--order", "alpha,delta"], r"field '--order'.*unknown task 'delta'.*alpha, beta, gamma"),
    (["--strategy", "gem"], r"field '--strategy': unknown strategy 'gem'; valid strategies: none, random, inscl"),
    (["--strategy", "insinfo"], r"strategy 'insinfo' needs intention tags: pass --tags FILE.*--tagger"),
    (["--budget", "-1"], r"field '--budget'"),
    (["--encoder", "st:/nonexistent/model"], r"--encoder"),
    (["--test-fraction", "1.5"], r"field '--test-fraction'"),
])
def test_bad_arguments(extra: list[str], pattern: str, task_dir: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["plan", "--tasks", str(task_dir), "--strategy", "random", "--encoder", "hashing", "--out", str(out)]
    if "--encoder" in extra:
        argv = argv[:5] + argv[7:]
    code, _, err = run_cli(argv + extra, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err
    assert not out.exists()


def test_bad_embeddings_and_tags_files(task_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    emb = tmp_path / "emb.jsonl"
    emb.write_text('{"text": "Do alpha step 0.", "embedding": [1, 0]}\n{"text": "x", "embedding": [1, 0, 2]}\n')
    code, _, err = run_cli(["plan", "--tasks", str(task_dir), "--strategy", "dynamic", "--embeddings", str(emb),
                            "--out", str(out)], capsys)
    assert code == 2 and re.search(r"emb\.jsonl:2, field 'embedding'.*3 dimensions", err), err
    emb.write_text('{"text": "Do alpha step 0.", "embedding": [1, 0]}\n')
    code, _, err = run_cli(["plan", "--tasks", str(task_dir), "--strategy", "dynamic", "--embeddings", str(emb),
                            "--out", str(out)], capsys)
    assert code == 2 and re.search(r"emb\.jsonl: no embedding for instruction 'Do alpha step 1\.'", err), err
    tags = tmp_path / "tags.jsonl"
    tags.write_text('{"instruction": "Do alpha step 0.", "tags": "answer"}\n')
    code, _, err = run_cli(["plan", "--tasks", str(task_dir), "--strategy", "inscl", "--encoder", "hashing",
                            "--tags", str(tags), "--out", str(out)], capsys)
    assert code == 2 and re.search(r"tags\.jsonl:1, field 'tags'", err), err
    assert not out.exists()


def test_plan_with_offline_tagger_logs_budget_warning(task_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(["plan", "--tasks", str(task_dir), "--strategy", "inscl", "--budget", "100",
                            "--encoder", "hashing", "--tagger", "offline", "--cache-dir", str(tmp_path / "cache"),
                            "--out", str(out)], capsys)
    assert code == 0, err
    doc = json.loads((out / "plan.json").read_text())
    assert doc["stages"][2]["quotas"] == {"alpha": 5, "beta": 5}  # everything: 6 examples, 1 held out
    assert set(doc["stages"][2]["insinfo"]) == {"alpha", "beta"}
    assert "budget 100 per task (200 in all) exceeds the 10 examples" in caplog.text


# ------------------------------------------------------------------ precomputed inputs
def test_embeddings_round_trip(tmp_path: Path) -> None:
    import numpy as np

    from inscl.data.precomputed import load_embeddings, load_tags

    texts = ["a", "b c", "ü"]
    matrix = np.arange(6, dtype=np.float32).reshape(3, 2)
    for name in ("e.npz", "e.jsonl"):
        save_embeddings(tmp_path / name, texts, matrix)
        enc = load_embeddings(tmp_path / name)
        assert np.array_equal(enc.encode(["ü", "a"]), matrix[[2, 0]]) and enc.dim == 2
    assert load_embeddings(tmp_path / "e.npz").id == load_embeddings(tmp_path / "e.jsonl").id
    (tmp_path / "t.json").write_text(json.dumps({"a": ["x", "y"]}))
    (tmp_path / "t.jsonl").write_text('{"instruction": "a", "tags": ["x"], "tagger": "t"}\n'
                                      '{"instruction": "a", "tags": ["x", "y"]}\n')
    assert load_tags(tmp_path / "t.json") == load_tags(tmp_path / "t.jsonl") == {"a": ["x", "y"]}


@pytest.mark.parametrize(("name", "content", "pattern"), [
    ("e.jsonl", '{"text": "a", "embedding": [1, 2]}\n{"text": "b"}\n', r"e\.jsonl:2, field 'embedding'"),
    ("e.jsonl", '{"text": "a", "embedding": [1, 2]}\n{"text": "a", "embedding": [2, 1]}\n',
     r"e\.jsonl:2, field 'embedding': 'a' appears twice"),
    ("e.jsonl", '{"embedding": [1]}\n', r"e\.jsonl:1, field 'text'"),
    ("e.jsonl", '{"text": "a", "embedding": [NaN]}\n', r"e\.jsonl:1, field 'embedding'"),
    ("e.jsonl", "\n", r"e\.jsonl: no embeddings"),
    ("t.jsonl", '{"instruction": "a", "tags": ["x"]}\n{"tags": ["x"]}\n', r"t\.jsonl:2, field 'instruction'"),
    ("t.jsonl", '{"instruction": "a", "tags": ["x"]\n', r"t\.jsonl:1: malformed JSON"),
    ("t.json", '["a"]', r"t\.json: expected a JSON object"),
])
def test_bad_precomputed_files(name: str, content: str, pattern: str, tmp_path: Path) -> None:
    from inscl.data.precomputed import load_embeddings, load_tags
    from inscl.errors import InputError

    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=pattern):
        (load_tags if name.startswith("t") else load_embeddings)(path)


def test_bad_npz(tmp_path: Path) -> None:
    import numpy as np

    from inscl.data.precomputed import load_embeddings
    from inscl.errors import InputError

    np.savez(tmp_path / "a.npz", texts=np.array(["a", "b"]), vectors=np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"a\.npz, field 'embeddings': missing array 'embeddings'"):
        load_embeddings(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", texts=np.array(["a", "b"]), embeddings=np.zeros((3, 3)))
    with pytest.raises(InputError, match=r"b\.npz, field 'embeddings'.*\(2, d\)"):
        load_embeddings(tmp_path / "b.npz")
    (tmp_path / "c.npz").write_text("not a zip")
    with pytest.raises(InputError, match=r"c\.npz: cannot read"):
        load_embeddings(tmp_path / "c.npz")
