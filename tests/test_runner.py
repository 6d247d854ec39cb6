"""Integration of the runner: a tiny random Llama (2 layers, hidden 64, ByT5 bytes) on a generated
3-task stream, a few optimiser steps per stage, strategies none / random / inscl (hashing encoder,
offline tagger), LoRA and full fine-tuning."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.data.jsonio import read_json, read_jsonl
from inscl.errors import ConfigError, InputError
from inscl.runner import ExperimentConfig, run_experiment
from inscl.runner.rundir import RunDir

TASKS = {
    "upper": (["Write the word in capital letters.", "Uppercase the given word.", "Convert this word to upper case."],
              lambda r: (w := r.choice(["apple", "river", "stone", "cloud", "tiger"]), w.upper())),
    "parity": (["Is the number even or odd?", "Say even or odd for the number."],
               lambda r: (str(n := r.randint(0, 99)), "even" if n % 2 == 0 else "odd")),
    "first": (["Give the first word of the sentence.", "Return the sentence's first word.",
               "Which word of the sentence comes first?"],
              lambda r: (s := " ".join(r.sample(["red", "blue", "cat", "dog", "sun", "moon"], 3)), s.split()[0])),
}


def write_stream(directory: Path, n: int = 20) -> Path:
    """Three alpaca JSONL tasks + manifest.json (the task order)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (instructions, make) in TASKS.items():
        rng = random.Random(name)
        rows = []
        for i in range(n):
            x, y = make(rng)
            # Every fourth example has a second reference: the training target stays the first.
            out = [y, "a different reference"] if i % 4 == 0 else y
            rows.append({"instruction": instructions[i % len(instructions)], "input": x, "output": out,
                         "id": f"{name}-{i}"})
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (directory / "manifest.json").write_text(json.dumps({"order": list(TASKS)}))
    return directory


def tiny_config(tmp: Path, **over) -> dict:
    cfg = {
        "model": {"name": "tiny"},
        "finetune": {"mode": "lora"},
        "optim": {"max_steps": 2, "batch_size": 4, "lr": 1e-3},
        "data": {"source": [str(write_stream(tmp / "stream"))], "test_fraction": 0.2},
        "replay": {"strategies": ["none", "random", "inscl"], "budget": 3, "encoder": "hashing",
                   "tagger": "offline", "dbscan_min_samples": 2},
        "evaluation": {"max_new_tokens": 4, "batch_size": 8},
        "reference": "expert",
        "seeds": [0],
        "threads": 1,  # 2 threads on a busy 2-core machine are ~30x slower for a tiny model
        "output_dir": str(tmp / "out"),
    }
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
    return cfg


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lora")
    config = ExperimentConfig.from_dict(tiny_config(tmp))
    results = run_experiment(config, progress=False)
    return config, results, Path(config.output_dir)


def test_results_schema_and_matrix(lora_run):
    _, results, out = lora_run
    assert [(r["strategy"], r["seed"]) for r in results] == [("none", 0), ("random", 0), ("inscl", 0)]
    for doc in results:
        assert doc == read_json(out / doc["strategy"] / "curriculum" / "seed0" / "results.json")
        assert doc["order"] == ["upper", "parity", "first"] and doc["budget"] == 3
        R = doc["R"]
        assert len(R) == 3 and all(len(row) == 3 for row in R)
        for t in range(3):
            for i in range(3):
                if i > t:
                    assert R[t][i] is None
                else:
                    assert 0.0 <= R[t][i] <= 1.0
        m = doc["metrics"]
        assert len(m["avg_score"]) == len(m["relative_gain"]) == 3
        assert m["final_rg"] == m["relative_gain"][-1]
        assert set(m["forgetting"]) == {"upper", "parity"}
        assert isinstance(m["bwt"], float)
        fa = m["forgetting_analysis"]
        assert {"instruction_related", "instruction_unrelated", "rule"} <= set(fa)
        assert doc["reference"]["kind"] == "expert" and set(doc["reference"]["scores"]) == set(doc["order"])
        assert doc["format_version"] == 2 and doc["metric"]["name"] == "superni-rougeL"
        assert m["relative_gain_by_reference"]["expert"] == m["relative_gain"]
        assert len(m["relative_gain_by_reference"]["diagonal"]) == 3 and set(m["reference_warnings"]) == {
            "expert", "diagonal"}
        assert doc["plan"]["strategy"] == doc["strategy"] and len(doc["plan"]["stages"]) == 3
        assert doc["plan"] == read_json(out / doc["strategy"] / "curriculum" / "seed0" / "plan.json")
        assert doc["config"]["model"]["name"] == "tiny"
        assert [s["stage"] for s in doc["timing"]["stages"]] == [1, 2, 3]
    summary = read_json(out / "summary.json")
    assert sorted((r["strategy"], r["seed"]) for r in summary) == [("inscl", 0), ("none", 0), ("random", 0)]


def test_generations_stored_for_every_seen_task(lora_run):
    _, results, out = lora_run
    from rouge_score import rouge_scorer

    official = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    tests = {name: [r["id"] for r in read_jsonl(out / "data" / f"{name}.test.jsonl")] for name in TASKS}
    assert all(tests.values())
    refs = {r["id"]: len(r["references"]) for name in TASKS for split in ("train", "test")
            for r in read_jsonl(out / "data" / f"{name}.{split}.jsonl")}
    assert set(refs.values()) == {1, 2}  # list outputs keep both references in data/
    for doc in results:
        for t, stage_dir in enumerate(doc["stage_dirs"], 1):
            d = out / stage_dir
            records = read_jsonl(d / "generations.jsonl")
            seen = doc["order"][:t]
            assert sorted({r["task"] for r in records}) == sorted(seen)
            for name in seen:
                assert [r["id"] for r in records if r["task"] == name] == tests[name]
            for r in records:
                assert set(r) >= {"task", "id", "prediction", "reference", "references", "rougeL"}
                assert r["references"][0] == r["reference"] and len(r["references"]) == refs[r["id"]]
                # SuperNI's official score, recomputed with rouge_score directly: best over all references
                best = max(official.score(target=ref, prediction=r["prediction"])["rougeL"].fmeasure
                           for ref in r["references"])
                assert r["rougeL"] == pytest.approx(best, abs=1e-12)
            scores = read_json(d / "scores.json")
            assert scores == pytest.approx({name: doc["R"][t - 1][i] for i, name in enumerate(seen)})
            assert (d / "adapter" / "adapter_model.safetensors").is_file()


def test_replay_sizes_follow_the_plan(lora_run):
    _, results, out = lora_run
    by = {d["strategy"]: d for d in results}
    replay = {s: [st["replay"] for st in by[s]["timing"]["stages"]] for s in by}
    assert replay["none"] == [0, 0, 0]
    assert replay["random"] == [0, 3, 6] and replay["inscl"] == [0, 3, 6]  # budget * (t - 1)
    train_sizes = {n: len(read_jsonl(out / "data" / f"{n}.train.jsonl")) for n in TASKS}
    for s in by:
        for st in by[s]["timing"]["stages"]:
            assert st["train_examples"] == train_sizes[st["task"]] + st["replay"]
    # replayed ids come from earlier tasks' train splits
    stage3 = by["inscl"]["plan"]["stages"][2]
    train_ids = {n: {r["id"] for r in read_jsonl(out / "data" / f"{n}.train.jsonl")} for n in TASKS}
    for task, ids in stage3["selected"].items():
        assert set(ids) <= train_ids[task]


def test_stage_one_trained_once_and_shared(lora_run):
    _, results, out = lora_run
    lines = [ln.split("\t") for ln in (out / "stages.log").read_text().splitlines()]
    trained_stage1 = [ln for ln in lines if ln[1] == "trained" and ln[5] == "stage=1"]
    assert len(trained_stage1) == 1 and trained_stage1[0][2] == "shared"
    assert sorted(ln[2] for ln in lines if ln[1] == "shared") == ["inscl", "none", "random"]
    shared = out / "shared" / "curriculum" / "seed0" / "stage_01_upper"
    weights = (shared / "adapter" / "adapter_model.safetensors").read_bytes()
    for doc in results:
        d = out / doc["stage_dirs"][0]
        assert read_json(d / "scores.json") == read_json(shared / "scores.json")
        assert (d / "adapter" / "adapter_model.safetensors").read_bytes() == weights
    # the expert of task 1 is stage 1 itself; tasks 2 and 3 were trained alone once, then reused
    experts = [ln for ln in lines if ln[2] == "expert"]
    assert sorted((ln[1], ln[5]) for ln in experts if ln[1] == "trained") == [("trained", "stage=2"),
                                                                              ("trained", "stage=3")]
    assert results[0]["reference"]["scores"]["upper"] == results[0]["R"][0][0]


def test_changed_config_is_refused_and_compare_reads_the_run(lora_run, capsys):
    config, _, out = lora_run
    before = (out / "stages.log").read_text()
    with pytest.raises(InputError, match="different config"):
        run_experiment(config.replace(**{"optim.lr": 5e-4}), progress=False)
    assert (out / "stages.log").read_text() == before
    # a rerun of the same config trains nothing
    run_experiment(config.replace(**{"replay.strategies": ["none"]}), progress=False)
    new = (out / "stages.log").read_text()[len(before):].splitlines()
    assert new and all(ln.split("\t")[1] == "skipped" for ln in new)
    assert main(["compare", str(out), "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "| none |" in table and "| inscl |" in table and "RG@3" in table
    assert main(["compare", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(r["strategy"] for r in doc["rows"]) == ["inscl", "none", "random"]
    assert {c["difference"] for c in doc["paired"]["comparisons"]} == {"random - none", "inscl - none",
                                                                      "inscl - random"}


def test_full_finetuning_with_diagonal_reference(tmp_path):
    cfg = tiny_config(tmp_path, finetune={"mode": "full"}, replay={"strategies": ["none"]}, reference="diagonal",
                      optim={"max_steps": 3, "lr": 5e-3})
    (doc,) = run_experiment(ExperimentConfig.from_dict(cfg), progress=False)
    out = tmp_path / "out"
    assert (out / doc["stage_dirs"][-1] / "model" / "model.safetensors").is_file()
    assert not (out / "experts").exists()
    R = doc["R"]
    assert doc["reference"] == {"kind": "diagonal", "scores": {n: R[i][i] for i, n in enumerate(doc["order"])}}
    losses = [s["final_loss"] for s in doc["timing"]["stages"]]
    assert all(math.isfinite(loss) and loss > 0 for loss in losses)


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="optim.lr"):
        ExperimentConfig.from_dict({"optim": {"lr": -1}})
    with pytest.raises(ConfigError, match="did you mean 'optim'"):
        ExperimentConfig.from_dict({"optimm": {}})
    with pytest.raises(ConfigError, match="did you mean 'model.name'"):
        ExperimentConfig.from_dict({"model": {"nam": "tiny"}})
    with pytest.raises(ConfigError, match="did you mean 'inscl'"):
        ExperimentConfig.from_dict({"replay": {"strategies": ["insc"]}})
    with pytest.raises(ConfigError, match="finetune.mode"):
        ExperimentConfig.from_dict({"finetune": {"mode": "qlora"}})
    y = tmp_path / "c.yaml"
    y.write_text("optim:\n  lr: 2e-5\n  batch_size: four\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3, field 'optim\.batch_size'"):
        ExperimentConfig.from_yaml(y)
    y.write_text("optim: [1, 2\n")
    with pytest.raises(InputError, match=r"c.yaml:\d"):
        ExperimentConfig.from_yaml(y)
    ok = ExperimentConfig.from_dict({})
    assert ok.optim.lr == 2e-5 and ok.optim.epochs == 2 and ok.optim.schedule == "cosine"
    assert ok.identity_hash() == ExperimentConfig.from_dict({"seeds": [3], "output_dir": "x"}).identity_hash()
    assert ok.identity_hash() != ExperimentConfig.from_dict({"optim": {"lr": 1e-4}}).identity_hash()


def test_overwrite_replaces_only_runner_output(tmp_path):
    rd = RunDir(tmp_path / "out")
    rd.claim("a: 1\n", "hash-a", overwrite=False, strategies=["none"])
    (rd.root / "none" / "curriculum" / "seed0").mkdir(parents=True)
    (rd.root / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="different config"):
        rd.claim("a: 2\n", "hash-b", overwrite=False, strategies=["none"])
    rd.claim("a: 2\n", "hash-b", overwrite=True, strategies=["none"])
    assert not (rd.root / "none").exists() and (rd.root / "notes.txt").read_text() == "mine"
    assert (rd.root / "config.sha256").read_text().strip() == "hash-b"


def test_cli_bad_input_exits_2_without_output(tmp_path, capsys):
    y = tmp_path / "bad.yaml"
    y.write_text(f"model: {{name: tiny}}\ndata: {{source: [{tmp_path / 'missing'}]}}\noutput_dir: out\n")
    assert main(["run", str(y)]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_stream_order_split_and_caps(tmp_path, superni_dir):
    from inscl.runner.config import DataConfig
    from inscl.runner.data import load_stream

    base = {"source": [str(superni_dir)], "max_train_per_task": 30, "max_test_per_task": 5}
    cur = load_stream(DataConfig(**base, max_tasks=4))
    assert [s.name for s in cur] == ["Classification", "Text_Quality_Evaluation", "Code", "Detection"]
    for s in cur:
        assert len(s.train) == 30 and len(s.test) == 5
        assert not {e.id for e in s.train} & {e.id for e in s.test}
        assert len(s.train.instructions()) > 1  # the cap samples across the category's task files
    rev = load_stream(DataConfig(**base, order="reverse", max_tasks=2))
    assert [s.name for s in rev] == ["Mathematics", "Summarization"]
    shuffled = [s.name for s in load_stream(DataConfig(**base, order="random", order_seed=1))]
    assert shuffled == [s.name for s in load_stream(DataConfig(**base, order="random", order_seed=1))]
    assert sorted(shuffled) == sorted(s.name for s in load_stream(DataConfig(**base)))
    explicit = load_stream(DataConfig(**base, order=["Code", "Classification"]))
    assert [s.name for s in explicit] == ["Code", "Classification"]
    with pytest.raises(InputError, match="unknown task 'Cod'"):
        load_stream(DataConfig(**base, order=["Cod"]))
    # the same seed gives the same split and caps
    again = load_stream(DataConfig(**base, max_tasks=4))
    assert [[e.id for e in s.test] for s in again] == [[e.id for e in s.test] for s in cur]
