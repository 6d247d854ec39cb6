"""Does InsInfo from a tagger separate instructions? Figures on the SuperNI definitions.

For every task file of the SuperNI subset, each ``Definition`` is an instruction. The
instructions are tagged (default: the offline tagger with the hashing and with the
MiniLM ranking encoder), and InsInfo(s) = sum over the distinct tags of s of
log(N / f_tag) is computed over all of them (``inscl.replay.insinfo`` when present, else
inline). With ``inscl.replay.tags`` present, the same figures are also given after the
planner's tag normalisation and DBSCAN merging of near-synonyms
(``canonicalize_instruction_tags`` at the eps calibrated for the merge encoder).

    python bench/tag_spread.py [--superni ../shared/data/superni] [--tagger offline ...]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def definitions(superni: Path) -> list[str]:
    out: list[str] = []
    for f in sorted((superni / "tasks").glob("*.json")):
        out.extend(json.loads(f.read_text(encoding="utf-8")).get("Definition", []))
    return list(dict.fromkeys(out))


def insinfo_inline(tags: Mapping[str, Sequence[str]]) -> dict[str, float]:
    n = len(tags)
    freq = Counter(t for ts in tags.values() for t in set(ts))
    return {s: sum(math.log(n / freq[t]) for t in set(ts)) for s, ts in tags.items()}


def insinfo(tags: Mapping[str, Sequence[str]]) -> dict[str, float]:
    try:
        from inscl.replay.insinfo import insinfo_scores
    except ImportError:
        return insinfo_inline(tags)
    return dict(insinfo_scores(tags))


def spread(tags: Mapping[str, Sequence[str]]) -> dict[str, float]:
    scores = list(insinfo(tags).values())
    freq = Counter(t for ts in tags.values() for t in set(ts))
    return {"n": len(scores), "min": min(scores), "median": statistics.median(scores), "max": max(scores),
            "std": statistics.pstdev(scores),
            "distinct_frac": len({round(x, 9) for x in scores}) / len(scores),
            "distinct_tags": len(freq),
            "tags_per_instr": statistics.mean(len(set(ts)) for ts in tags.values()),
            "singleton_tag_frac": sum(1 for c in freq.values() if c == 1) / len(freq)}


def merged(tags: Mapping[str, Sequence[str]], encoder_spec: str, cache: Path) -> dict[str, list[str]] | None:
    """Tags after the planner's normalisation and DBSCAN merging (None without inscl.replay.tags)."""
    try:
        from inscl.replay.tags import canonicalize_instruction_tags
    except ImportError:
        return None
    from inscl.encoders import make_encoder
    from inscl.replay.tag_calibration import merge_parameters

    encoder = make_encoder(encoder_spec, cache_dir=cache, progress=False)
    eps, min_samples, _ = merge_parameters(encoder.id)  # the planner's default: calibrated per encoder
    return canonicalize_instruction_tags(tags, encoder, eps=eps, min_samples=min_samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--superni", type=Path, default=REPO.parent / "shared" / "data" / "superni")
    parser.add_argument("--tagger", nargs="+", default=["offline", "offline:minilm"])
    parser.add_argument("--merge-encoder", default="minilm", help="encoder for DBSCAN tag merging")
    args = parser.parse_args(argv)
    from inscl.taggers import make_tagger

    instructions = definitions(args.superni)
    print(f"{len(instructions)} distinct SuperNI definitions from {args.superni}")
    header = ("tagger", "variant", "min", "median", "max", "std", "distinct", "tags", "tags/instr",
              "singleton")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.tagger:
            t0 = time.perf_counter()
            tags = make_tagger(spec, cache_dir=Path(tmp), progress=False).tag(instructions)
            secs = time.perf_counter() - t0
            variants = [("raw", tags)]
            m = merged(tags, args.merge_encoder, Path(tmp))
            if m is not None:
                variants.append((f"normalised+merged({args.merge_encoder})", m))
            for name, tg in variants:
                s = spread(tg)
                rows.append((spec, name, f"{s['min']:.2f}", f"{s['median']:.2f}", f"{s['max']:.2f}",
                             f"{s['std']:.2f}", f"{s['distinct_frac']:.3f}", str(s["distinct_tags"]),
                             f"{s['tags_per_instr']:.2f}", f"{s['singleton_tag_frac']:.2f}"))
            print(f"{spec}: tagged in {secs:.1f} s; example: {instructions[0][:60]!r} -> "
                  f"{tags[instructions[0]]}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
