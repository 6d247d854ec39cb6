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


def _generated_tasks(n_tasks: int, n: int) -> list:
    import numpy as np

    from inscl.data.task import Example, Task

    rng = np.random.default_rng(0)
    verbs = ("write", "explain", "list", "classify", "translate", "summarize", "rewrite", "compare")
    topics = ("rivers", "tax law", "chess", "bread", "volcanoes", "jazz", "the moon", "bees", "poetry")
    tasks = []
    for t in range(n_tasks):
        mix = rng.dirichlet(np.ones(len(verbs)) * 0.5)
        examples = []
        for k in range(n):
            verb = verbs[rng.choice(len(verbs), p=mix)]
            text = f"{verb} something about {topics[rng.integers(len(topics))]} number {t}-{k}"
            for r in range(int(rng.integers(1, 3))):
                examples.append(Example(id=f"t{t}-{k}-{r}", instruction=text, input="", output="o"))
        tasks.append(Task(name=f"task{t}", examples=examples))
    return tasks


@pytest.mark.parametrize("method", ["sparse", "exact"])
def test_parallel_pairs_give_the_plan_of_one_thread(method):
    # plan_stream prefetches every pair on n_jobs threads; add_task alone computes each
    # stage's pairs itself. All three must write the same plan, byte for byte.
    tasks = _generated_tasks(5, 150)
    encoder = HashingEncoder()
    tags = OfflineTagger().tag([s for t in tasks for s in t.instructions()])
    config = PlannerConfig(strategy="inscl", budget=20, wasserstein=method)
    one = plan_stream(tasks, config, encoder, tags, progress=False, n_jobs=1).to_dict()
    two = plan_stream(tasks, config, encoder, tags, progress=False, n_jobs=2).to_dict()
    from inscl.replay.planner import ReplayPlanner

    planner = ReplayPlanner(config, encoder, tags, progress=False, n_jobs=3)
    for task in tasks:
        planner.add_task(task)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    assert json.dumps(one, sort_keys=True) == json.dumps(planner.to_dict(), sort_keys=True)
    assert {m for s in one["stages"] for m in s["distance_methods"].values()} == {method}


def test_prefetch_skips_a_stream_that_fails_its_checks():
    # A repeated task name: the stage that repeats it reports it, as without prefetching.
    from inscl.errors import InputError

    tasks = _generated_tasks(3, 30)
    tasks[2] = type(tasks[2])(name="task0", examples=tasks[2].examples)
    with pytest.raises(InputError, match="already in the stream"):
        plan_stream(tasks, PlannerConfig(strategy="dynamic", budget=5), HashingEncoder(), progress=False, n_jobs=2)


def test_n_jobs_is_validated():
    from inscl.errors import ConfigError
    from inscl.replay.planner import ReplayPlanner

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="n_jobs"):
            ReplayPlanner(PlannerConfig(strategy="dynamic"), HashingEncoder(), n_jobs=bad)


def test_violations_kept_per_query_are_its_most_violated():
    import numpy as np

    from inscl.replay.sparse_ot import _top_per_query

    qi = np.array([2, 0, 2, 0, 2, 1, 0])
    score = np.array([0.1, 0.5, 0.9, 0.2, 0.5, 0.3, 0.7])
    col = np.arange(7) * 10
    q, c = _top_per_query(qi, score, 2, col)
    assert sorted(zip(q.tolist(), c.tolist())) == [(0, 10), (0, 60), (1, 50), (2, 20), (2, 40)]
