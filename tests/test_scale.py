"""Planning at scale: the sparse Wasserstein solver gives the exact solver's quotas on the
SuperNI stream, the plan records method and bound per pair, and an exact computation that
would not fit in memory is refused up front (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.data import load_tasks
from inscl.encoders.hashing import HashingEncoder
from inscl.replay.planner import PlannerConfig, plan_stream
from inscl.taggers.offline import OfflineTagger


def test_sparse_quotas_equal_exact_quotas_on_superni(superni_dir):
    tasks = load_tasks([superni_dir])
    encoder = HashingEncoder()
    tags = OfflineTagger().tag([s for t in tasks for s in t.instructions()])
    plans = {}
    for method in ("exact", "sparse"):
        config = PlannerConfig(strategy="inscl", budget=60, wasserstein=method)
        plans[method] = plan_stream(tasks, config, encoder, tags, progress=False)
    exact, sparse = plans["exact"], plans["sparse"]
    assert len(exact.stages) == 16
    for e, s in zip(exact.stages, sparse.stages):
        assert s.quotas == e.quotas
        assert s.selected == e.selected
        for name, d in e.distances.items():
            assert s.distances[name] == pytest.approx(d, abs=1e-5)
            assert s.distance_methods[name] == "sparse" and e.distance_methods[name] == "exact"
            assert e.distance_bounds[name] is None
            # Certified: the bound covers the gap to the exact value and is tiny.
            # (float32 similarities: the value may sit ~1e-7 below the float64 optimum.)
            assert -1e-6 <= s.distances[name] - d <= s.distance_bounds[name] + 1e-9 < 1e-3
    doc = sparse.to_dict()
    assert doc["format_version"] == 4
    assert doc["stages"][2]["distance_methods"] == {n: "sparse" for n in doc["order"][:2]}


def write_alpaca_tasks(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(2):
        records = [{"instruction": f"task {t} instruction number {k}", "input": "", "output": "o"} for k in range(n)]
        path = folder / f"t{t}.json"
        path.write_text(json.dumps(records))
        paths.append(path)
    return paths


def test_exact_distance_that_cannot_fit_is_an_input_error(tmp_path, capsys):
    # 2 x 2,500 distinct instructions (2,000 in each train split): the dense exact solver
    # would need 48 * 2,000^2 bytes = 0.18 GB, over the 0.1 GB allowed.
    write_alpaca_tasks(tmp_path / "tasks", 2500)
    out = tmp_path / "plan"
    code = main(["-q", "plan", "--tasks", str(tmp_path / "tasks"), "--strategy", "inscl", "--encoder", "hashing",
                 "--tagger", "offline", "--distance", "exact", "--max-memory", "0.1",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "field '--distance'" in err[0] and "would need" in err[0]
    assert "use --distance sparse" in err[0]
    assert not out.exists()
    # The sparse solver plans the same stream within that limit.
    code = main(["-q", "plan", "--tasks", str(tmp_path / "tasks"), "--strategy", "inscl", "--encoder", "hashing",
                 "--tagger", "offline", "--distance", "auto", "--max-exact", "1000", "--max-memory", "0.1",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert code == 0
    stage = json.loads((out / "plan.json").read_text())["stages"][1]
    assert stage["distance_methods"] == {"t0": "sparse"} and stage["distance_bounds"]["t0"] is not None
