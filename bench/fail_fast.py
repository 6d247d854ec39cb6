"""How fast does a command report bad input? Each command is run as a user runs it
(``python -m inscl ...`` in a fresh process) on a task folder whose second task file has a
malformed line, and its wall time to the one-line error is measured.

    python bench/fail_fast.py               # 5 repetitions, median
    python bench/fail_fast.py --repeat 9

The baseline is ``inscl data check`` on the same folder: the least a command can do
(start Python, import the loader, read the files). For ``inscl run`` the script also
times importing torch and transformers in a fresh process: what a run paid before its
inputs were validated ahead of those imports. Every command must exit with status 2 and
one line on stderr; the figures and ratios come last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def workspace(root: Path) -> Path:
    tasks = root / "tasks"
    tasks.mkdir()
    for name in ("alpha", "beta", "gamma"):
        rows = [{"instruction": f"Do {name} {j % 3}.", "input": f"x{j}", "output": f"y{j}"} for j in range(200)]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if name == "beta":
            text += '{"instruction": "broken", "output": \n'
        (tasks / f"{name}.jsonl").write_text(text, encoding="utf-8")
    (root / "exp.yaml").write_text(
        f"model: {{name: tiny}}\ndata: {{source: [{tasks}]}}\noutput_dir: {root / 'run'}\n"
        "replay: {strategies: [random], encoder: hashing}\n", encoding="utf-8")
    return tasks


def timed(argv: list[str], env: dict[str, str], expect: int | None = 2) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if expect is not None:
        lines = proc.stderr.strip().splitlines()
        if proc.returncode != expect or len(lines) != 1:
            raise SystemExit(f"{argv}: exit {proc.returncode}, stderr:\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (median reported)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tasks = workspace(root)
        py = [sys.executable, "-m", "inscl"]
        commands = {
            "data check": py + ["data", "check", "--tasks", str(tasks)],
            "plan": py + ["plan", "--tasks", str(tasks), "--strategy", "random", "--encoder", "hashing",
                          "--out", str(root / "out")],
            "run": py + ["run", str(root / "exp.yaml")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        times["import torch + transformers"] = []
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every command alike
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
            times["import torch + transformers"].append(
                timed([sys.executable, "-c", "import torch, transformers"], env, expect=None))
        assert not (root / "out").exists() and not (root / "run").exists(), "bad input left output behind"
    base = statistics.median(times["data check"])
    print(f"time to the one-line error on a malformed task file, median of {args.repeat} fresh processes")
    print(f"{'command':<30} {'seconds':>8} {'x data check':>13}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<30} {med:8.2f} {med / base:13.1f}")


if __name__ == "__main__":
    main()
