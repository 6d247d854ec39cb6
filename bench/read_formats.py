"""What does reading conversations and tables cost next to alpaca JSONL? And writing them back?

    python bench/read_formats.py                  # 50,000 examples, best of 3
    python bench/read_formats.py --examples 10000 --repeat 5

The same examples (two-turn conversations, a system prompt on every third) are written as
alpaca JSONL (the baseline: the reader inscl had before conversation formats), ShareGPT
JSONL, ``messages`` JSONL, ``messages`` Parquet and a ShareGPT ``datasets`` folder;
each is read with ``inscl.data.load_tasks`` (validation included). Then the ShareGPT task
is written back with ``inscl.data.writers.RecordWriter``: in its own format (the records
as read) and converted to ``messages`` and alpaca. Figures are the best of ``--repeat``
runs; ratios compare with the alpaca reader / the verbatim writer in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from inscl.data import load_tasks
from inscl.data.writers import RecordWriter


def conversations(n: int) -> list[list[tuple[str, str]]]:
    out = []
    for i in range(n):
        turns = [("system", "You are a careful assistant.")] if i % 3 == 0 else []
        turns += [("user", f"Task {i % 50}: explain item {i} in a sentence."), ("assistant", f"Item {i} is ...")]
        if i % 2:
            turns += [("user", "And why?"), ("assistant", "Because it follows from the definition.")]
        out.append(turns)
    return out


def write_inputs(root: Path, convs: list[list[tuple[str, str]]]) -> dict[str, Path]:
    import datasets

    datasets.disable_progress_bars()
    sg_roles = {"system": "system", "user": "human", "assistant": "gpt"}
    alpaca = [{"instruction": dict(c).get("system", "Answer."), "input": c[-2][1] if c[0][0] != "system"
               else c[1][1], "output": c[-1][1], "id": str(i)} for i, c in enumerate(convs)]
    sharegpt = [{"id": str(i), "conversations": [{"from": sg_roles[r], "value": v} for r, v in c]}
                for i, c in enumerate(convs)]
    messages = [{"id": str(i), "messages": [{"role": r, "content": v} for r, v in c]} for i, c in enumerate(convs)]
    paths = {"alpaca JSONL (baseline)": root / "alpaca.jsonl", "sharegpt JSONL": root / "sharegpt.jsonl",
             "messages JSONL": root / "messages.jsonl", "messages Parquet": root / "messages.parquet",
             "sharegpt datasets folder": root / "sharegpt_ds"}
    for key, records in (("alpaca JSONL (baseline)", alpaca), ("sharegpt JSONL", sharegpt),
                         ("messages JSONL", messages)):
        paths[key].write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    datasets.Dataset.from_list(messages).to_parquet(str(paths["messages Parquet"]))
    datasets.Dataset.from_list(sharegpt).save_to_disk(str(paths["sharegpt datasets folder"]))
    return paths


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    convs = conversations(args.examples)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_inputs(Path(tmp), convs)
        rows = []
        tasks = {}
        for name, path in paths.items():
            seconds, result = best(lambda p=path: load_tasks(p), args.repeat)
            (task,) = result  # type: ignore[misc]
            assert len(task) == args.examples
            tasks[name] = task
            rows.append((name, seconds))
        base = rows[0][1]
        print(f"reading {args.examples:,} examples with load_tasks (best of {args.repeat}):")
        print(f"{'source':<28}{'seconds':>9}{'examples/s':>12}{'vs alpaca':>11}")
        for name, seconds in rows:
            print(f"{name:<28}{seconds:>9.3f}{args.examples / seconds:>12,.0f}{seconds / base:>10.2f}x")
        sg = tasks["sharegpt JSONL"]
        writes = []
        for fmt in ("sharegpt", "messages", "alpaca"):
            writer = RecordWriter(fmt, [sg])
            seconds, records = best(lambda w=writer: w.records(sg.examples), args.repeat)
            assert len(records) == args.examples  # type: ignore[arg-type]
            writes.append((fmt, seconds))
        print(f"\nwriting the sharegpt task back (RecordWriter.records, best of {args.repeat}):")
        print(f"{'format':<28}{'seconds':>9}{'examples/s':>12}{'vs verbatim':>13}")
        for fmt, seconds in writes:
            label = f"{fmt} ({'verbatim' if fmt == 'sharegpt' else 'converted'})"
            print(f"{label:<28}{seconds:>9.3f}{args.examples / seconds:>12,.0f}{seconds / writes[0][1]:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
