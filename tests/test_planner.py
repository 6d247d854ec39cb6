"""ReplayPlanner on a small generated stream: invariants of every strategy, determinism,
online = batch, budget overflow, caching, config validation and error paths."""

from __future__ import annotations

import itertools
import random
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from inscl.data.task import Example, Task
from inscl.encoders.hashing import HashingEncoder
from inscl.errors import ConfigError, InputError
from inscl.replay.planner import BudgetWarning, PlannerConfig, ReplayPlanner, StagePlan, plan_stream
from inscl.replay.strategies import STRATEGIES, get_strategy

VERBS = ["classify", "summarize", "translate", "answer", "rewrite", "extract", "count", "detect"]
NOUNS = ["review", "question", "sentence", "dialogue", "table", "number", "story", "code"]
STYLES = ["", " Be brief.", " Explain your answer.", " Use one word.", " Answer in a full sentence."]


def make_stream(n_tasks: int = 4, seed: int = 0) -> list[Task]:
    """Tasks with 2-5 instructions each and 6-24 examples, instructions drawn with unequal weights."""
    rng = random.Random(seed)
    tasks = []
    for t in range(n_tasks):
        verb = VERBS[t % len(VERBS)]
        instructions = [f"{verb.capitalize()} the {rng.choice(NOUNS)} given below.{style}"
                        for style in rng.sample(STYLES, rng.randint(2, 5))]
        instructions = list(dict.fromkeys(instructions))
        weights = [rng.uniform(0.5, 3) for _ in instructions]
        n = rng.randint(6, 24)
        name = f"task{t}_{verb}"
        examples = [Example(rng.choices(instructions, weights)[0], f"input {t}.{j}", f"output {t}.{j}",
                            f"{name}-{j}", name) for j in range(n)]
        tasks.append(Task(name, examples))
    return tasks


def keyword_tags(instruction: str) -> list[str]:
    """A simple offline tagger: the verb, the object and the style words of the instruction."""
    words = [w.strip(".,").lower() for w in instruction.split()]
    tags = [w for w in words if w in VERBS or w in NOUNS]
    tags += [w for w in ("brief", "explain", "word", "sentence") if w in words[3:]]
    return tags


class KeywordTagger:
    """A real Tagger (the protocol) that records what it was asked to tag."""

    id = "keyword-test"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        self.calls.append(list(instructions))
        return {s: keyword_tags(s) for s in instructions}


class CountingEncoder:
    """Wraps a real encoder and counts how often each text is encoded."""

    def __init__(self, inner: HashingEncoder) -> None:
        self.inner = inner
        self.id = inner.id
        self.counts: Counter[str] = Counter()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.counts.update(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def encoder() -> HashingEncoder:
    return HashingEncoder(dim=256)


@pytest.fixture(scope="module")
def stream() -> list[Task]:
    return make_stream()


def all_tags(tasks: list[Task]) -> dict[str, list[str]]:
    return {s: keyword_tags(s) for t in tasks for s in t.instructions()}


def plan(tasks: list[Task], encoder: HashingEncoder, **config: object) -> ReplayPlanner:
    cfg = PlannerConfig(**{"budget": 4, "dbscan_min_samples": 2, **config})  # type: ignore[arg-type]
    tags = all_tags(tasks) if STRATEGIES[cfg.strategy].needs_tags else None
    return plan_stream(tasks, cfg, encoder, tags, progress=False)


def test_strategy_table() -> None:
    assert set(STRATEGIES) == {"none", "random", "inscl", "dynamic", "insinfo", "prototype-data",
                               "prototype-instruction", "diverse-instruction", "multitask"}
    assert (STRATEGIES["inscl"].quotas, STRATEGIES["inscl"].selector) == ("dynamic", "insinfo")
    assert STRATEGIES["inscl"].needs_tags and STRATEGIES["inscl"].needs_embeddings
    assert (STRATEGIES["multitask"].quotas, STRATEGIES["none"].quotas) == ("all", "none")
    with pytest.raises(InputError, match="valid strategies: none, random, inscl"):
        get_strategy("gem")


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_invariants(strategy: str, stream: list[Task], encoder: HashingEncoder) -> None:
    budget = 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BudgetWarning)
        planner = plan(stream, encoder, strategy=strategy, budget=budget)
    rule = STRATEGIES[strategy].quotas
    assert [s.task for s in planner.stages] == [t.name for t in stream]
    assert planner.stages[0].replay == [] and planner.stages[0].quotas == {}
    for t, stage in enumerate(planner.stages[1:], start=2):
        previous = stream[:t - 1]
        available = {p.name: len(p) for p in previous}
        assert stage.available == available
        if rule == "none":
            assert stage.replay == [] and set(stage.quotas.values()) == {0}
        elif rule == "all":
            assert stage.quotas == available
        elif rule == "fixed":
            assert stage.quotas == {k: min(budget, n) for k, n in available.items()}
        else:
            assert sum(stage.quotas.values()) == min(budget * (t - 1), sum(available.values()))
            assert set(stage.distances) == set(available) and all(w >= 0 for w in stage.distances.values())
            assert stage.wasserstein_method == "exact"
        for p in previous:
            ids = stage.selected[p.name]
            assert len(ids) == stage.quotas[p.name] <= len(p)
            assert len(set(ids)) == len(ids)
            assert set(ids) <= {e.id for e in p.examples}
        assert [e.id for e in stage.replay] == [i for p in previous for i in stage.selected[p.name]]
        assert all(e.task == next(p.name for p in previous if e.id in stage.selected[p.name])
                   for e in stage.replay)


def test_dynamic_quotas_follow_distances(stream: list[Task], encoder: HashingEncoder) -> None:
    stage = plan(stream, encoder, strategy="dynamic", budget=3).stages[-1]
    names = sorted(stage.distances, key=stage.distances.get)
    # More dissimilar tasks never get fewer examples unless their own size caps them.
    for near, far in itertools.pairwise(names):
        assert stage.quotas[near] <= stage.quotas[far] or stage.quotas[far] == stage.available[far]


def test_multitask_replays_everything(stream: list[Task], encoder: HashingEncoder) -> None:
    last = plan(stream, encoder, strategy="multitask").stages[-1]
    assert [e.id for e in last.replay] == [e.id for t in stream[:-1] for e in t.examples]


@pytest.mark.parametrize("strategy", ["inscl", "random", "prototype-data"])
def test_same_seed_same_plan(strategy: str, stream: list[Task], encoder: HashingEncoder) -> None:
    assert plan(stream, encoder, strategy=strategy).to_dict() == plan(stream, encoder, strategy=strategy).to_dict()


def test_other_seed_changes_random_selection(stream: list[Task], encoder: HashingEncoder) -> None:
    a = plan(stream, encoder, strategy="random", seed=0).to_dict()
    b = plan(stream, encoder, strategy="random", seed=1).to_dict()
    assert [s["selected"] for s in a["stages"]] != [s["selected"] for s in b["stages"]]
    assert [s["quotas"] for s in a["stages"]] == [s["quotas"] for s in b["stages"]]


def test_online_equals_batch_and_earlier_stages_are_stable(stream: list[Task], encoder: HashingEncoder) -> None:
    batch = plan(stream, encoder, strategy="inscl")
    online = ReplayPlanner(PlannerConfig(strategy="inscl", budget=4, dbscan_min_samples=2), encoder,
                           all_tags(stream), progress=False)
    returned = [online.add_task(t) for t in stream]
    assert returned == online.stages
    assert online.to_dict() == batch.to_dict()
    longer = plan(stream + make_stream(6, seed=5)[4:], encoder, strategy="inscl")
    assert [s.to_dict() for s in longer.stages[:len(stream)]] == [s.to_dict() for s in batch.stages]
    assert len(longer.stages) == len(stream) + 2


@pytest.mark.parametrize("strategy", ["random", "inscl"])
def test_budget_larger_than_data_takes_everything(strategy: str, stream: list[Task],
                                                  encoder: HashingEncoder) -> None:
    with pytest.warns(BudgetWarning, match=r"budget 1000 per task .*exceeds.*replaying all of them"):
        planner = plan(stream, encoder, strategy=strategy, budget=1000)
    for t, stage in enumerate(planner.stages[1:], start=2):
        assert stage.quotas == {p.name: len(p) for p in stream[:t - 1]}
        assert sorted(e.id for e in stage.replay) == sorted(e.id for p in stream[:t - 1] for e in p)


def test_each_instruction_and_tag_is_encoded_once(stream: list[Task]) -> None:
    encoder = CountingEncoder(HashingEncoder(dim=256))
    tag_encoder = CountingEncoder(HashingEncoder(dim=128))
    tagger = KeywordTagger()
    config = PlannerConfig(strategy="inscl", budget=4, dbscan_min_samples=2)
    planner = ReplayPlanner(config, encoder, tagger, tag_encoder=tag_encoder, progress=False)
    for task in stream:
        planner.add_task(task)
    distinct = {s for t in stream for s in t.instructions()}
    assert set(encoder.counts) == distinct and set(encoder.counts.values()) == {1}
    assert tag_encoder.counts and set(tag_encoder.counts.values()) == {1}
    tagged = [s for call in tagger.calls for s in call]
    assert sorted(tagged) == sorted(distinct)  # each instruction tagged once, in any stage


def test_distribution_mode_changes_distances(stream: list[Task], encoder: HashingEncoder) -> None:
    real = plan(stream, encoder, strategy="dynamic").stages[-1].distances
    uniform = plan(stream, encoder, strategy="dynamic", distribution="uniform").stages[-1].distances
    assert real.keys() == uniform.keys() and real != uniform


def test_sinkhorn_method_is_reported(stream: list[Task], encoder: HashingEncoder) -> None:
    stage = plan(stream, encoder, strategy="dynamic", wasserstein="sinkhorn", sinkhorn_reg=0.05).stages[-1]
    exact = plan(stream, encoder, strategy="dynamic").stages[-1]
    assert stage.wasserstein_method == "sinkhorn"
    assert stage.distances == pytest.approx(exact.distances, abs=0.1)


def test_plan_dict_shape(stream: list[Task], encoder: HashingEncoder) -> None:
    doc = plan(stream, encoder, strategy="inscl", seed=3).to_dict()
    assert (doc["strategy"], doc["budget"], doc["seed"]) == ("inscl", 4, 3)
    assert doc["order"] == [t.name for t in stream]
    keys = {"task", "quotas", "available", "distances", "insinfo", "selected", "wasserstein_method"}
    assert all(keys <= set(s) for s in doc["stages"])
    assert PlannerConfig.from_dict(doc["config"]) == PlannerConfig(strategy="inscl", budget=4, seed=3,
                                                                   dbscan_min_samples=2)
    stage = doc["stages"][2]
    assert set(stage["insinfo"]) == set(doc["order"][:2])
    assert all(v >= 0 for scores in stage["insinfo"].values() for v in scores.values())


@pytest.mark.parametrize(("field", "value"), [
    ("strategy", "gem"), ("budget", -1), ("budget", 2.5), ("budget", True), ("seed", -3),
    ("distribution", "weighted"), ("wasserstein", "greedy"), ("max_exact", 0), ("sinkhorn_reg", 0.0),
    ("dbscan_eps", 0.0), ("dbscan_eps", 3.0), ("dbscan_min_samples", 0),
])
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        PlannerConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field and field in str(info.value)


def test_config_round_trip_and_unknown_key() -> None:
    config = PlannerConfig(strategy="dynamic", budget=10, seed=2, distribution="uniform")
    assert PlannerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown planner parameter 'budgett'"):
        PlannerConfig.from_dict({"budgett": 3})


def test_strategy_needing_tags_without_tags(encoder: HashingEncoder) -> None:
    with pytest.raises(ConfigError, match="needs intention tags"):
        ReplayPlanner(PlannerConfig(strategy="insinfo"), encoder)


def test_bad_tasks_are_input_errors(stream: list[Task], encoder: HashingEncoder) -> None:
    planner = ReplayPlanner(PlannerConfig(strategy="random"), encoder, progress=False)
    planner.add_task(stream[0])
    with pytest.raises(InputError, match="already in the stream"):
        planner.add_task(stream[0])
    with pytest.raises(InputError, match="has no examples"):
        planner.add_task(Task("empty"))
    dup = Task("dup", [stream[1].examples[0], stream[1].examples[0]])
    with pytest.raises(InputError, match="appears twice"):
        planner.add_task(dup)
    assert planner.order == [stream[0].name]


def test_missing_tags_is_an_input_error_and_leaves_the_planner_usable(stream: list[Task],
                                                                       encoder: HashingEncoder) -> None:
    tags = all_tags(stream[:1])
    planner = ReplayPlanner(PlannerConfig(strategy="inscl", budget=2, dbscan_min_samples=2), encoder, tags,
                            progress=False)
    planner.add_task(stream[0])
    with pytest.raises(InputError, match="no intention tags for instruction"):
        planner.add_task(stream[1])
    assert planner.order == [stream[0].name] and len(planner.stages) == 1
    tags.update(all_tags(stream[1:2]))
    stage = planner.add_task(stream[1])
    assert isinstance(stage, StagePlan) and stage.index == 2
