"""Does offline InsInfo rank instructions like LLM-tag InsInfo? And does tag merging merge?

Over the SuperNI definitions of ``../shared/data/superni`` at the final stage of the
curriculum stream (every instruction of the 16 tasks, N = 95), InsInfo is computed the
way the planner does it at that stage (normalise, DBSCAN-merge with the tag encoder at
its calibrated eps, then sum of log(N / f) per instruction) from

* the LLM intention tags (``llm-tags.jsonl``, InsTag prompt), and
* the offline tagger (``offline`` ranks with hashing, ``offline:minilm`` with MiniLM).

It prints, per (tagger, tag encoder): Spearman and Kendall (tau-b) of offline InsInfo
against LLM-tag InsInfo, the share of tags held by one instruction, tags per
instruction and the merge rate (share of distinct normalised tags renamed by DBSCAN).
Then the merge calibration table (:mod:`inscl.replay.tag_calibration`), and the
Spearman for a range of the tagger's ``clause_words`` (its only length setting, hand-set
to 20 and not fitted on these instructions) to show how much the figure depends on it.

    python bench/tag_agreement.py [--superni ../shared/data/superni] [--recalibrate]

``--recalibrate`` recomputes the calibration of each tag encoder and writes
``src/inscl/replay/tag_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENCODERS = ("hashing", "minilm")


def stream_instructions(superni: Path) -> list[str]:
    """Distinct instructions of the curriculum stream, in stream order (all stages)."""
    from inscl.data import load_tasks
    from inscl.data.superni import ORDERS

    tasks = {t.name: t for t in load_tasks([superni])}
    order = [n for n in ORDERS["curriculum"] if n in tasks] + [n for n in tasks if n not in ORDERS["curriculum"]]
    return list(dict.fromkeys(s for n in order for s in tasks[n].instructions()))


def final_stage(raw: Mapping[str, Sequence[str]], encoder) -> tuple[dict[str, float], dict[str, list[str]], float]:
    """InsInfo and canonical tags as the planner computes them at the last stage, and the merge rate."""
    from inscl.replay.insinfo import insinfo_scores
    from inscl.replay.tag_calibration import merge_parameters
    from inscl.replay.tags import canonicalize_instruction_tags

    eps, min_samples, _ = merge_parameters(encoder.id)
    canonical = canonicalize_instruction_tags(raw, encoder, eps=eps, min_samples=min_samples)
    plain = canonicalize_instruction_tags(raw, None)
    distinct = {t for ts in plain.values() for t in ts}
    renamed = {t for s, ts in plain.items() for t in ts if t not in canonical[s]}
    return insinfo_scores(canonical), canonical, len(renamed) / max(len(distinct), 1)


def singleton_share(tags: Mapping[str, Sequence[str]]) -> float:
    freq = Counter(t for ts in tags.values() for t in set(ts))
    return sum(1 for c in freq.values() if c == 1) / max(len(freq), 1)


def correlations(x: Mapping[str, float], y: Mapping[str, float]) -> tuple[float, float]:
    from scipy.stats import kendalltau, spearmanr

    keys = list(y)
    a, b = [x[k] for k in keys], [y[k] for k in keys]
    return float(spearmanr(a, b).statistic), float(kendalltau(a, b).statistic)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--superni", type=Path, default=REPO.parent / "shared" / "data" / "superni")
    parser.add_argument("--llm-tags", type=Path, default=None, help="default: SUPERNI/llm-tags.jsonl")
    parser.add_argument("--recalibrate", action="store_true", help="rewrite src/inscl/replay/tag_calibration.json")
    args = parser.parse_args(argv)
    from inscl.encoders import make_encoder
    from inscl.replay import tag_calibration as C
    from inscl.taggers import make_tagger
    from inscl.taggers.fallback import TableTagger, read_tag_table
    from inscl.taggers.offline import OfflineTagger

    instructions = stream_instructions(args.superni)
    path = args.llm_tags or args.superni / "llm-tags.jsonl"
    got = TableTagger(read_tag_table(path), source=path.name).tag(instructions)  # the planner's lookup
    if len(got) < len(instructions):
        print(f"warning: {len(instructions) - len(got)} instructions have no LLM tags and are left out")
    instructions = [s for s in instructions if s in got]
    llm = {s: got[s] for s in instructions}
    print(f"{len(instructions)} SuperNI definitions (final stage of the curriculum stream)")
    with tempfile.TemporaryDirectory() as tmp:
        encoders = {name: make_encoder(name, cache_dir=Path(tmp), progress=False) for name in ENCODERS}
        if args.recalibrate:
            cals = {name: C.calibrate(enc) for name, enc in encoders.items()}
            doc = {"about": "DBSCAN eps per tag encoder id, calibrated on inscl.replay.tag_calibration."
                            "CALIBRATION_PAIRS by bench/tag_agreement.py --recalibrate",
                   "encoders": {c.encoder: {k: v for k, v in c.to_dict().items() if k != "pairs"}
                                for c in cals.values()}}
            C.CALIBRATION_FILE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
            C.load_calibrations.cache_clear()
            print(f"wrote {C.CALIBRATION_FILE}")

        print("\n## Merge calibration (pairs of LLM tags; merged = cosine distance <= eps, min_samples 2)")
        print("| tag encoder | eps | synonym pairs merged | distinct pairs merged |")
        print("|---|---|---|---|")
        cals = {name: C.calibrate(enc) for name, enc in encoders.items()}
        for name, c in cals.items():
            stored = C.merge_parameters(encoders[name].id)
            note = "" if stored[0] == c.eps else f" (stored eps {stored[0]}: rerun with --recalibrate)"
            print(f"| {name} | {c.eps} | {c.synonyms_merged}/{c.synonyms} | {c.distinct_merged}/{c.distinct} |{note}")
        print("\n| pair | should merge | " + " | ".join(f"{n}: distance (merged?)" for n in cals) + " |")
        print("|---|---|" + "---|" * len(cals))
        first = next(iter(cals.values()))
        for k, (a, b, should, _) in enumerate(first.pairs):
            cells = [f"{c.pairs[k][3]:.3f} ({'yes' if c.pairs[k][3] <= c.eps else 'no'})" for c in cals.values()]
            print(f"| {a} / {b} | {'yes' if should else 'no'} | " + " | ".join(cells) + " |")

        print(f"\n## InsInfo agreement with LLM tags (final stage, N = {len(instructions)})")
        print("| tagger | tag encoder | Spearman | Kendall | tags/instr | tags on 1 instr | merge rate | tag s |")
        print("|---|---|---|---|---|---|---|---|")
        for enc_name, enc in encoders.items():
            ref, canon, rate = final_stage(llm, enc)
            print(f"| LLM tags | {enc_name} | 1 | 1 | {sum(map(len, canon.values())) / len(canon):.2f} | "
                  f"{singleton_share(canon):.0%} | {rate:.1%} | – |")
            for spec in ("offline", "offline:minilm"):
                t0 = time.perf_counter()
                raw = make_tagger(spec, cache_dir=Path(tmp) / "tags", progress=False).tag(instructions)
                secs = time.perf_counter() - t0
                scores, canon_o, rate_o = final_stage(raw, enc)
                rho, tau = correlations(scores, ref)
                print(f"| {spec} | {enc_name} | {rho:.3f} | {tau:.3f} | "
                      f"{sum(map(len, canon_o.values())) / len(canon_o):.2f} | {singleton_share(canon_o):.0%} | "
                      f"{rate_o:.1%} | {secs:.1f} |")

        print("\n## Sensitivity to clause_words (offline, hashing ranking and tag encoder)")
        ref, _, _ = final_stage(llm, encoders["hashing"])
        cells = []
        for cw in (10, 12, 15, 20, 25, 30, 40):
            raw = OfflineTagger(clause_words=cw).tag(instructions)
            rho, _ = correlations(final_stage(raw, encoders["hashing"])[0], ref)
            cells.append(f"{cw}: {rho:.3f}")
        print("Spearman by clause_words: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
