"""Resuming: `inscl run` in a subprocess is SIGKILLed once stage 2 of 3 is on disk; the rerun
skips stages 1-2 and ends with exactly the results of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from inscl.data.jsonio import read_json
from inscl.runner import ExperimentConfig, run_experiment

TASKS = {
    "upper": (["Write the word in capital letters.", "Uppercase the given word."],
              lambda r: (w := r.choice(["apple", "river", "stone", "cloud", "tiger"]), w.upper())),
    "parity": (["Is the number even or odd?", "Say even or odd for the number."],
               lambda r: (str(n := r.randint(0, 99)), "even" if n % 2 == 0 else "odd")),
    "first": (["Give the first word of the sentence.", "Which word of the sentence comes first?"],
              lambda r: (s := " ".join(r.sample(["red", "blue", "cat", "dog", "sun", "moon"], 3)), s.split()[0])),
}


def _write_stream(directory: Path, n: int = 16) -> None:
    directory.mkdir(parents=True)
    for name, (instructions, make) in TASKS.items():
        rng = random.Random(name)
        rows = [dict(zip(("input", "output"), make(rng)), instruction=instructions[i % 2], id=f"{name}-{i}")
                for i in range(n)]
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (directory / "manifest.json").write_text(json.dumps({"order": list(TASKS)}))


def _config(tmp: Path) -> dict:
    return {
        "model": {"name": "tiny"},
        "finetune": {"mode": "lora", "lora_dropout": 0.1},  # dropout: the per-stage RNG matters
        "optim": {"max_steps": 3, "batch_size": 4, "lr": 2e-3},
        "data": {"source": [str(tmp / "stream")], "test_fraction": 0.25},
        "replay": {"strategies": ["random"], "budget": 2, "encoder": "hashing"},
        "evaluation": {"max_new_tokens": 6},
        "reference": "diagonal",
        "seeds": [7],
        "deterministic": True,
        "threads": 1,
    }


def _log(out: Path) -> list[list[str]]:
    return [ln.split("\t") for ln in (out / "stages.log").read_text().splitlines()]


def test_killed_run_resumes_to_the_same_results(tmp_path):
    _write_stream(tmp_path / "stream")
    cfg = _config(tmp_path)
    # The uninterrupted reference run (in this process; same deterministic flags and thread count).
    (reference,) = run_experiment(ExperimentConfig.from_dict({**cfg, "output_dir": str(tmp_path / "ref")}),
                                  progress=False)

    out = tmp_path / "resumed"
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump({**cfg, "output_dir": str(out)}))
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "inscl", "run", str(config_file)]
    run_dir = out / "random" / "curriculum" / "seed7"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "stage_02_parity").is_dir():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "stage 2 never finished"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "stage_03_first").exists()
    assert not (run_dir / "results.json").exists()
    before = _log(out)
    assert [(ln[1], ln[5]) for ln in before if ln[2] == "random"] == [("shared", "stage=1"), ("trained", "stage=2")]
    mtimes = {d: (run_dir / d / "scores.json").stat().st_mtime_ns for d in ("stage_01_upper", "stage_02_parity")}

    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = _log(out)[len(before):]
    events = [(ln[1], ln[2], ln[5]) for ln in after]
    assert ("skipped", "shared", "stage=1") in events
    assert ("skipped", "random", "stage=1") in events and ("skipped", "random", "stage=2") in events
    assert [e for e in events if e[0] == "trained"] == [("trained", "random", "stage=3")]
    assert {d: (run_dir / d / "scores.json").stat().st_mtime_ns for d in mtimes} == mtimes
    assert not list(out.rglob(".tmp-*"))

    resumed = read_json(run_dir / "results.json")
    assert resumed["R"] == reference["R"]
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["plan"] == reference["plan"]
    ref_dir = tmp_path / "ref" / "random" / "curriculum" / "seed7"
    for stage in ("stage_02_parity", "stage_03_first"):
        assert (run_dir / stage / "generations.jsonl").read_text() == (ref_dir / stage / "generations.jsonl").read_text()
        assert (run_dir / stage / "adapter" / "adapter_model.safetensors").read_bytes() == \
            (ref_dir / stage / "adapter" / "adapter_model.safetensors").read_bytes()
