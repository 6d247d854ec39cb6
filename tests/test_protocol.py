"""The paired protocol (issue 13): several task orders x seeds in one config, runs paired by
(order, seed) with a shared stage 1, the mixture rule of a capped stage, the per-task
new-token budget and EOS stop, SuperNI folders by path, and the many-instruction stream."""

from __future__ import annotations

import collections
import json
import logging
import random
from pathlib import Path

import pytest

from inscl.data.jsonio import read_json
from inscl.errors import ConfigError, InputError
from inscl.runner import ExperimentConfig, run_experiment
from inscl.runner.config import DataConfig, OptimConfig, order_label
from inscl.runner.data import load_stream, load_streams

TASKS = {
    "upper": (["Write the word in capital letters.", "Uppercase the given word."],
              lambda r: (w := r.choice(["apple", "river", "stone", "cloud", "tiger"]), w.upper())),
    "parity": (["Is the number even or odd?", "Say even or odd for the number."],
               lambda r: (str(n := r.randint(0, 99)), "even" if n % 2 == 0 else "odd")),
    "first": (["Give the first word of the sentence.", "Return the sentence's first word."],
              lambda r: (s := " ".join(r.sample(["red", "blue", "cat", "dog", "sun", "moon"], 3)), s.split()[0])),
}


def write_stream(directory: Path, n: int = 16) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (instructions, make) in TASKS.items():
        rng = random.Random(name)
        rows = []
        for i in range(n):
            x, y = make(rng)
            rows.append({"instruction": instructions[i % len(instructions)], "input": x, "output": y,
                         "id": f"{name}-{i}"})
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (directory / "manifest.json").write_text(json.dumps({"order": list(TASKS)}))
    return directory


# ---- config: orders and seeds ------------------------------------------------------------------
def test_orders_parse_into_labels_and_are_left_out_of_the_hash():
    cfg = ExperimentConfig.from_dict({"data": {"orders": ["curriculum", "reverse", "random:3", ["b", "a"]]},
                                      "seeds": [0, 1]})
    labels = [label for label, _ in cfg.data.order_list()]
    assert labels[:3] == ["curriculum", "reverse", "random-3"] and labels[3].startswith("custom-")
    assert order_label(["b", "a"]) == labels[3] != order_label(["a", "b"])
    assert ExperimentConfig.from_dict({}).data.order_list() == [("curriculum", "curriculum")]
    assert ExperimentConfig.from_dict({"data": {"order": "random", "order_seed": 5}}).data.order_list()[0][0] \
        == "random-5"
    # more orders or seeds extend a run: they have their own folders
    assert cfg.identity_hash() == ExperimentConfig.from_dict({}).identity_hash()
    # one folder by path
    assert ExperimentConfig.from_dict({"data": {"source": "/data/superni"}}).data.source == ["/data/superni"]


@pytest.mark.parametrize("orders, match", [
    (["curriculum", "sideways"], r"data\.orders\[1\].*curriculum\|reverse\|random"),
    (["random:x"], r"data\.orders\[0\].*bad seed"),
    (["reverse", "reverse"], r"data\.orders\[1\].*repeats order 'reverse'"),
    (["random:2", "random:2"], r"data\.orders\[1\].*repeats order 'random-2'"),
    ([["a", "a"]], r"data\.orders\[0\].*listed twice"),
    ([], r"data\.orders.*at least one"),
    ("curriculum", r"data\.orders.*must be a list"),
])
def test_bad_orders_name_the_key(orders, match):
    with pytest.raises(ConfigError, match=match):
        ExperimentConfig.from_dict({"data": {"orders": orders}})


def test_yaml_errors_name_the_key_and_line(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("data:\n  orders:\n    - curriculum\n    - sideways\nseeds: [0, 1]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:4, field 'data\.orders\[1\]'"):
        ExperimentConfig.from_yaml(y)
    y.write_text("data:\n  orders: [reverse]\nseeds: [0, 0]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3, field 'seeds'.*distinct"):
        ExperimentConfig.from_yaml(y)
    y.write_text("seeds: [0, one]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:1, field 'seeds\[1\]'.*integer"):
        ExperimentConfig.from_yaml(y)


def test_every_order_permutes_the_same_task_set(tmp_path):
    src = str(write_stream(tmp_path / "s"))
    streams = load_streams(DataConfig(source=[src], orders=["curriculum", "reverse", ["parity", "first", "upper"]]))
    names = {k: [s.name for s in v] for k, v in streams.items()}
    assert names["curriculum"] == ["upper", "parity", "first"] and names["reverse"] == ["first", "parity", "upper"]
    assert names[order_label(["parity", "first", "upper"])] == ["parity", "first", "upper"]
    # the same split objects in every order: pairs share their data
    by = {s.name: s for s in streams["curriculum"]}
    assert all(s is by[s.name] for v in streams.values() for s in v)
    # max_tasks picks the set from `order` once; "reverse" then reverses that set
    two = load_streams(DataConfig(source=[src], max_tasks=2, orders=["curriculum", "reverse"]))
    assert [s.name for s in two["reverse"]] == ["parity", "upper"]
    with pytest.raises(InputError, match=r"data\.orders\[1\].*leaves out task\(s\) first"):
        load_streams(DataConfig(source=[src], orders=["curriculum", ["upper", "parity"]]))
    with pytest.raises(InputError, match=r"data\.orders\[1\].*same task sequence as 'curriculum'"):
        load_streams(DataConfig(source=[src], orders=["curriculum", ["upper", "parity", "first"]]))


def test_superni_folder_by_path_without_categories_file(tmp_path, superni_dir):
    """A folder of upstream task files (no categories.json) is grouped by InsCL category."""
    categories = json.loads((superni_dir / "categories.json").read_text())
    folder = tmp_path / "ni" / "tasks"
    folder.mkdir(parents=True)
    picked = {c: categories[c][:2] for c in ("Classification", "Code")}
    for files in picked.values():
        for f in files:
            (folder / f).symlink_to(superni_dir / "tasks" / f)
    for source in (folder.parent, folder):
        cfg = ExperimentConfig.from_dict({"data": {"source": str(source), "max_test_per_task": 5}})
        stream = load_stream(cfg.data)
        assert [s.name for s in stream] == ["Classification", "Code"]
        assert all(len(s.train.instructions()) == 2 for s in stream)


# ---- training: the mixture rule -------------------------------------------------------------------
def test_every_example_is_trained_on_without_a_cap():
    from inscl.runner.train import plan_mixture

    plan = plan_mixture(50, OptimConfig(epochs=2, batch_size=8), seed=1)
    assert plan.keep == list(range(50)) and not plan.subsampled and plan.steps == 14  # ceil(50/8) * 2
    assert plan_mixture(50, OptimConfig(epochs=2, batch_size=8, max_steps=14), seed=1).keep == list(range(50))
    # a cap above what the epochs need trains no extra steps
    assert plan_mixture(50, OptimConfig(epochs=1, batch_size=8, max_steps=100), seed=1).steps == 7


def test_a_cap_subsamples_the_mixture_uniformly():
    from inscl.runner.train import plan_mixture

    optim = OptimConfig(epochs=2, batch_size=4, max_steps=10)
    plan = plan_mixture(84, optim, seed=3)
    assert plan.subsampled and plan.mixture == 84 and len(plan.keep) == 20  # 10 steps * 4 / 2 epochs
    assert plan.steps == 10 and len(set(plan.keep)) == 20 and plan.keep == sorted(plan.keep)
    assert plan_mixture(84, optim, seed=3) == plan and plan_mixture(84, optim, seed=4).keep != plan.keep
    # uniform: over many seeds every example (task or replay, first or last) is kept about equally often
    counts = collections.Counter(i for s in range(3000) for i in plan_mixture(84, optim, seed=s).keep)
    expected = 3000 * 20 / 84
    assert set(counts) == set(range(84))
    assert max(abs(c - expected) for c in counts.values()) < 0.2 * expected
    # the replay tail of the mixture is not cut off (a truncation would keep only a prefix)
    assert sum(counts[i] for i in range(64, 84)) == pytest.approx(3000 * 20 * 20 / 84, rel=0.1)


def test_capped_stage_logs_and_records_the_subsample(tmp_path, caplog):
    from inscl.data.task import Example
    from inscl.runner.config import PromptConfig
    from inscl.runner.models import load_model
    from inscl.runner.train import get_accelerator, train_stage

    model, tok = load_model("tiny", tiny_layers=1, tiny_hidden=16)
    examples = [Example("Say the number.", str(i), str(i), f"x{i}", "t") for i in range(30)]
    with caplog.at_level(logging.WARNING, logger="inscl.runner.train"):
        stats = train_stage(model, tok, examples, optim=OptimConfig(epochs=2, batch_size=4, max_steps=3),
                            prompt=PromptConfig(max_prompt_tokens=16, max_target_tokens=4), seed=0,
                            accelerator=get_accelerator("cpu"), desc="capped")
    d = stats.to_dict()
    assert d["steps"] == 3 and d["examples"] == 6 and d["mixture"] == 30 and d["subsampled"] is True
    assert any("uniform random subset of 6 examples" in r.getMessage() for r in caplog.records)


# ---- evaluation: budget and EOS -------------------------------------------------------------------
def test_new_token_budget_from_the_references():
    from inscl.data.task import Example
    from inscl.runner.evaluate import new_token_budget
    from inscl.runner.models import tiny_tokenizer

    tok = tiny_tokenizer()  # bytes: one token per character
    exs = [Example("i", "x", "abc", "1", "t"), Example("i", "y", "abcdefgh", "2", "t")]
    assert new_token_budget(exs, tok, cap=64) == 11  # ceil(8 * 1.25) + 1 (EOS)
    assert new_token_budget(exs, tok, cap=64, margin=0.0) == 9
    assert new_token_budget(exs, tok, cap=5) == 5
    multi = [Example("i", "x", "ab", "1", "t", references=("ab", "abcdefghijklmnop"))]
    assert new_token_budget(multi, tok, cap=64) == 21  # every reference counts: ceil(16 * 1.25) + 1


def test_generation_stops_at_eos(tmp_path):
    """A tiny model trained to answer "ab" stops after 2 tokens + EOS, well under the budget."""
    import torch

    from inscl.data.task import Example
    from inscl.runner.config import PromptConfig
    from inscl.runner.evaluate import evaluate_task, generate_counted
    from inscl.runner.models import load_model
    from inscl.runner.prompts import pad_batch, training_ids

    torch.manual_seed(0)
    model, tok = load_model("tiny", tiny_layers=1, tiny_hidden=32)
    prompt = PromptConfig(max_prompt_tokens=16, max_target_tokens=4)
    ex = Example("Q", "z", "ab", "1", "t")
    batch = pad_batch([training_ids(ex, prompt, tok)] * 4, tok.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.01:
            break
    texts, counts = generate_counted(model, tok, [ex, ex], prompt=prompt, max_new_tokens=20, batch_size=2)
    assert texts == ["ab", "ab"] and counts == [3, 3]  # "a", "b", EOS: not the budget of 20
    score, records = evaluate_task(model, tok, "t", [ex], prompt=prompt, max_new_tokens=20, batch_size=1)
    assert records[0]["new_tokens"] == 3 and records[0]["prediction"] == "ab" and score == 1.0


# ---- runs paired by (order, seed) ------------------------------------------------------------------
def test_runs_are_paired_by_order_and_seed(tmp_path):
    cfg = {
        "model": {"name": "tiny", "tiny_layers": 1, "tiny_hidden": 16},
        "finetune": {"mode": "full"},
        "optim": {"epochs": 1, "batch_size": 8, "lr": 1e-2},
        "prompt": {"max_prompt_tokens": 32, "max_target_tokens": 6},
        "data": {"source": str(write_stream(tmp_path / "s", n=10)), "orders": ["curriculum", "reverse"],
                 "test_fraction": 0.2},
        "replay": {"strategies": ["none", "random"], "budget": 2, "encoder": "hashing"},
        "evaluation": {"max_new_tokens": 6, "batch_size": 8},
        "reference": "diagonal", "seeds": [0], "threads": 1, "output_dir": str(tmp_path / "out"),
    }
    docs = run_experiment(ExperimentConfig.from_dict(cfg), progress=False)
    out = tmp_path / "out"
    assert [(d["order_name"], d["strategy"]) for d in docs] == [
        ("curriculum", "none"), ("curriculum", "random"), ("reverse", "none"), ("reverse", "random")]
    assert read_json(out / "run.json")["schema_version"] == 2
    for d in docs:
        assert d["schema_version"] == 2 and d["pair"] == f"{d['order_name']}/seed0"
        assert d == read_json(out / d["strategy"] / d["order_name"] / "seed0" / "results.json")
        assert all(sd.startswith(f"{d['strategy']}/{d['order_name']}/seed0/") for sd in d["stage_dirs"])
        assert all(st["examples"] == st["train_examples"] for st in d["timing"]["stages"])  # no cap: all seen
    by = {(d["order_name"], d["strategy"]): d for d in docs}
    assert by[("reverse", "none")]["order"] == by[("curriculum", "none")]["order"][::-1]
    # stage 1 is trained once per (order, seed) and shared by the strategies of that pair only
    log = [ln.split("\t") for ln in (out / "stages.log").read_text().splitlines()]
    trained1 = [(ln[2], ln[3]) for ln in log if ln[1] == "trained" and ln[5] == "stage=1"]
    assert trained1 == [("shared", "order=curriculum"), ("shared", "order=reverse")]
    for order in ("curriculum", "reverse"):
        first = [by[(order, s)]["R"][0][0] for s in ("none", "random")]
        assert first[0] == first[1]
        shared = read_json(out / "shared" / order / "seed0" / f"stage_01_{by[(order, 'none')]['order'][0]}"
                           / "scores.json")
        assert list(shared.values()) == [first[0]]
    summary = read_json(out / "summary.json")
    assert sorted((r["strategy"], r["order_name"], r["seed"]) for r in summary) == sorted(
        (s, o, 0) for o in ("curriculum", "reverse") for s in ("none", "random"))
    # another seed extends the run (same config hash): only the new pairs train
    before = len(log)
    more = run_experiment(ExperimentConfig.from_dict({**cfg, "seeds": [0, 1]}), progress=False)
    assert len(more) == 8
    new = [ln.split("\t") for ln in (out / "stages.log").read_text().splitlines()][before:]
    assert {ln[4] for ln in new if ln[1] == "trained"} == {"seed=1"}


# ---- the many-instruction stream ---------------------------------------------------------------------
def test_many_instruction_stream(tmp_path):
    from inscl.data import load_tasks
    from inscl.demo.stream import (
        MANY_TASK_NAMES,
        MANY_TASK_SPECS,
        generate_many_task,
        intent_phrasings,
        write_many_stream,
    )

    for spec in MANY_TASK_SPECS:
        for intent in spec.intents:
            phrasings = intent_phrasings(spec, intent)
            assert len(phrasings) == len(set(phrasings)) >= 200
            assert all(p[0].isupper() for p in phrasings)
    paths = write_many_stream(tmp_path / "a", n_examples=160, seed=0)
    again = write_many_stream(tmp_path / "b", n_examples=160, seed=0)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    tasks = load_tasks([tmp_path / "a"])
    assert [t.name for t in tasks] == list(MANY_TASK_NAMES)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    for t in tasks:
        counts = collections.Counter(e.instruction for e in t.examples)
        assert 40 <= len(counts) == manifest["distinct_instructions"][t.name]  # dozens of instructions per task
        assert counts.most_common(1)[0][1] >= 5 and sum(c == 1 for c in counts.values()) >= 20  # uneven
    # intents are drawn by their weights and answers follow the intent's rule
    spec = MANY_TASK_SPECS[0]
    task = generate_many_task(spec, 400, seed=1)
    city = [e for e in task.examples if e.output in e.input and e.output[0].isupper()]
    assert len(city) == 400
    months = sum(e.output in ("January", "February", "March", "April", "May", "June", "July", "August",
                              "September", "October", "November", "December") for e in task.examples)
    assert 0.08 < months / 400 < 0.25  # the month intent has weight 0.15
    assert generate_many_task(spec, 50, seed=2).examples != generate_many_task(spec, 50, seed=1).examples
    with pytest.raises(InputError, match="unknown many-instruction task 'nope'"):
        write_many_stream(tmp_path / "c", tasks=["nope"])
