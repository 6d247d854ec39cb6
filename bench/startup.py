"""Start-up cost: cached `inscl tag` + `inscl embed` against uncached, and what `inscl plan`
spends importing before it works.

    python bench/startup.py                 # ../shared/data/superni (the 16 SuperNI categories)
    python bench/startup.py --tasks DIR

1. `inscl tag --tagger offline` then `inscl embed --encoder minilm` on a fresh cache
   (uncached: the model loads) and again on the filled cache (every text cached: no model,
   no torch); each command runs in its own process, wall time measured around it.
2. `python -X importtime -m inscl plan ...` on the same tasks: the summed import time of
   every module, torch's share, and whether POT/scikit-learn were imported.
3. `inscl plan` and `inscl data check` on a task file with a bad line: both must fail
   (exit 2), and the plan should not take longer than the check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
           TRANSFORMERS_OFFLINE="1")


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, check=False)
    return time.perf_counter() - start, proc


def best(args: list[str], repeat: int = 3) -> float:
    return min(timed(args)[0] for _ in range(repeat))


def imports(stderr: str) -> dict[str, int]:
    """{module: cumulative microseconds} of the top-level entries of -X importtime."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and not m.group(2):
            out[m.group(3)] = int(m.group(1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=Path, default=REPO.parent / "shared" / "data" / "superni")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="inscl-startup-") as tmp:
        cache = Path(tmp) / "cache"
        tag = ["-m", "inscl", "-q", "tag", "--tasks", str(args.tasks), "--tagger", "offline", "--cache-dir", str(cache)]
        embed = ["-m", "inscl", "-q", "embed", "--tasks", str(args.tasks), "--encoder", "minilm",
                 "--cache-dir", str(cache)]
        t_tag, p1 = timed(tag)
        t_embed, p2 = timed(embed)
        if p1.returncode or p2.returncode:
            raise SystemExit(p1.stderr[-1000:] + p2.stderr[-1000:])
        c_tag, c_embed = best(tag), best(embed)
        _, cached_imports = timed(["-X", "importtime", *embed])
        torch_cached = "torch" in imports(cached_imports.stderr)
        print("\n| step | uncached s | cached s (best of 3) |")
        print("|---|---|---|")
        print(f"| inscl tag --tagger offline | {t_tag:.2f} | {c_tag:.2f} |")
        print(f"| inscl embed --encoder minilm | {t_embed:.2f} | {c_embed:.2f} |")
        print(f"| both | {t_tag + t_embed:.2f} | {c_tag + c_embed:.2f} |")
        print(f"cached / uncached speed-up: {(t_tag + t_embed) / (c_tag + c_embed):.1f}x; "
              f"torch imported by the cached embed: {torch_cached}")

        out = Path(tmp) / "plan"
        plan = ["-X", "importtime", "-m", "inscl", "-q", "plan", "--tasks", str(args.tasks), "--strategy", "inscl",
                "--encoder", "hashing", "--tagger", "offline", "--cache-dir", str(cache), "--out", str(out)]
        wall, proc = timed(plan)
        top = imports(proc.stderr)
        total = sum(top.values()) / 1e6
        heavy = {m: top[m] / 1e6 for m in ("torch", "ot", "sklearn", "transformers") if m in top}
        nested = {m: m in proc.stderr for m in ("torch", "ot", "sklearn")}
        print(f"\ninscl plan (16 stages): wall {wall:.2f} s, imports {total:.2f} s in all; "
              f"top-level heavy imports {heavy}; imported at all: {nested}")

        bad = Path(tmp) / "bad"
        bad.mkdir()
        (bad / "a.jsonl").write_text(json.dumps({"instruction": "x", "input": "", "output": "y"}) + "\n{oops\n")
        (bad / "b.jsonl").write_text(json.dumps({"instruction": "z", "input": "", "output": "y"}) + "\n")
        t_check, pc = timed(["-m", "inscl", "data", "check", "--tasks", str(bad)])
        t_plan, pp = timed(["-m", "inscl", "plan", "--tasks", str(bad), "--strategy", "inscl", "--encoder",
                            "hashing", "--tagger", "offline", "--out", str(Path(tmp) / "never")])
        print(f"bad data: inscl data check exit {pc.returncode} in {t_check:.2f} s; "
              f"inscl plan exit {pp.returncode} in {t_plan:.2f} s")
        print(f"  plan says: {pp.stderr.strip().splitlines()[-1] if pp.stderr.strip() else ''}")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
