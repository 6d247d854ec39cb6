"""The TRL recipe (docs/trainers.md): SFTTrainer on a stage mixture written by `inscl plan`,
in messages and prompt-completion form, a few steps on the tiny random Llama, offline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from inscl.cli import main

trl = pytest.importorskip("trl", reason="pip install 'trl>=0.24,<2' for the TRL recipe test")
datasets = pytest.importorskip("datasets")

# The tiny model's byte-level tokenizer has no chat template; a real chat model brings its own.
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def write_tasks(folder: Path) -> list[Path]:
    folder.mkdir()
    files = []
    for t, name in enumerate(("colours", "numbers")):
        records = []
        for i in range(12):
            msgs = [{"role": "system", "content": "Answer in one word."}] if i % 3 == 0 else []
            msgs += [{"role": "user", "content": f"{name} question {i % 4}?"},
                     {"role": "assistant", "content": f"{name}-{i}"}]
            if i % 2:
                msgs += [{"role": "user", "content": "Again?"}, {"role": "assistant", "content": "Yes."}]
            records.append({"messages": msgs, "id": f"{name}{i}"})
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        files.append(path)
    return files


def sft_losses(mixture: Path, out: Path, cache: Path) -> list[float]:
    from inscl.runner.models import load_model

    model, tokenizer = load_model("tiny", device="cpu", init_seed=0)
    model.train()
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "right"  # training pads on the right
    dataset = datasets.load_dataset("json", data_files=str(mixture), split="train", cache_dir=str(cache))
    args = trl.SFTConfig(output_dir=str(out), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3,
                         logging_steps=1, report_to=[], save_strategy="no", max_length=256, use_cpu=True, seed=0,
                         disable_tqdm=True)
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


@pytest.mark.parametrize("fmt", ["messages", "prompt_completion"])
def test_sft_trainer_on_a_written_mixture(tmp_path, fmt):
    files = write_tasks(tmp_path / "tasks")
    out = tmp_path / "plan"
    assert main(["-q", "plan", "--tasks", *map(str, files), "--strategy", "inscl", "--encoder", "hashing",
                 "--tagger", "offline", "--budget", "4", "--format", fmt, "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    mixture = out / plan["stages"][1]["dir"] / "mixture.jsonl"
    first = json.loads(mixture.read_text().splitlines()[0])
    assert ("messages" in first) == (fmt == "messages") and ("prompt" in first) == (fmt == "prompt_completion")
    losses = sft_losses(mixture, tmp_path / "trl", tmp_path / "hf")
    assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses), losses
