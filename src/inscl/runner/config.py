"""The experiment config: nested dataclasses read from YAML and validated.

Every field has a default, so an empty YAML is a valid (SmolLM2 + LoRA) experiment.
Bad values raise :class:`ConfigError` naming the YAML key path (``optim.lr``);
unknown keys are rejected with a suggestion (``optim.learnig_rate`` -> ``lr``?).

The config *hash* (:meth:`ExperimentConfig.identity_hash`) covers everything that
changes results; ``output_dir``, ``overwrite``, ``strategies``, ``seeds`` and
``data.orders`` are left out because each (strategy, order, seed) lives in its own
sub-directory, so running more of them later extends a run instead of invalidating it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from inscl.errors import ConfigError, InputError

STRATEGIES = ("none", "random", "inscl", "dynamic", "insinfo", "prototype-data", "prototype-instruction",
              "diverse-instruction", "multitask")
ORDERS = ("curriculum", "reverse", "random")


def _check(cond: bool, key: str, message: str) -> None:
    if not cond:
        raise ConfigError(message, field=key)


@dataclass
class ModelConfig:
    """Which model to fine-tune and where it runs."""

    name: str = "smollm2-135m-instruct"  # packaged SmolLM2 | "tiny" (random Llama, tests) | local HF folder
    dtype: str = "auto"  # auto (fp32 weights; bf16 autocast on CUDA when supported) | float32 | bfloat16 | float16
    device: str = "auto"  # auto | cpu | cuda
    cache_dir: str | None = None  # converted-model cache; default $INSCL_CACHE_DIR/models or ~/.cache/inscl/models
    tiny_layers: int = 2  # "tiny" only: decoder layers
    tiny_hidden: int = 64  # "tiny" only: hidden size
    init_seed: int = 0  # "tiny" only: seed of the random initialisation (same base for every run seed)

    def validate(self, p: str) -> None:
        _check(bool(self.name), f"{p}.name", "must be a model name or a local directory")
        _check(self.dtype in ("auto", "float32", "bfloat16", "float16"), f"{p}.dtype",
               f"must be auto|float32|bfloat16|float16, got {self.dtype!r}")
        _check(self.device in ("auto", "cpu", "cuda"), f"{p}.device", f"must be auto|cpu|cuda, got {self.device!r}")
        _check(self.tiny_layers >= 1, f"{p}.tiny_layers", "must be >= 1")
        _check(self.tiny_hidden >= 8 and self.tiny_hidden % 4 == 0, f"{p}.tiny_hidden",
               "must be a multiple of 4, >= 8")


@dataclass
class FinetuneConfig:
    """Full fine-tuning or LoRA (PEFT)."""

    mode: str = "lora"  # lora | full
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])

    def validate(self, p: str) -> None:
        _check(self.mode in ("lora", "full"), f"{p}.mode", f"must be lora|full, got {self.mode!r}")
        _check(self.lora_r >= 1, f"{p}.lora_r", "must be >= 1")
        _check(self.lora_alpha > 0, f"{p}.lora_alpha", "must be > 0")
        _check(0.0 <= self.lora_dropout < 1.0, f"{p}.lora_dropout", "must be in [0, 1)")
        _check(len(self.target_modules) > 0, f"{p}.target_modules", "must name at least one module")


@dataclass
class OptimConfig:
    """Optimiser and schedule per stage (defaults: the paper's 2 epochs, lr 2e-5, cosine, 3% warm-up)."""

    epochs: float = 2.0
    max_steps: int | None = None  # cap on optimiser steps per stage: a larger mixture is subsampled uniformly
    lr: float = 2e-5
    schedule: str = "cosine"  # cosine | linear | constant
    warmup_ratio: float = 0.03
    batch_size: int = 4
    grad_accum: int = 1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    def validate(self, p: str) -> None:
        _check(self.epochs > 0, f"{p}.epochs", "must be > 0")
        _check(self.max_steps is None or self.max_steps >= 1, f"{p}.max_steps", "must be >= 1 or null")
        _check(self.lr > 0, f"{p}.lr", "must be > 0")
        _check(self.schedule in ("cosine", "linear", "constant"), f"{p}.schedule",
               f"must be cosine|linear|constant, got {self.schedule!r}")
        _check(0.0 <= self.warmup_ratio < 1.0, f"{p}.warmup_ratio", "must be in [0, 1)")
        _check(self.batch_size >= 1, f"{p}.batch_size", "must be >= 1")
        _check(self.grad_accum >= 1, f"{p}.grad_accum", "must be >= 1")
        _check(self.weight_decay >= 0, f"{p}.weight_decay", "must be >= 0")
        _check(self.max_grad_norm > 0, f"{p}.max_grad_norm", "must be > 0")


@dataclass
class PromptConfig:
    """How an example becomes a prompt; the output follows the prompt directly."""

    template: str = "{instruction}\n\n{input}"  # as in the paper's code
    use_chat_template: bool = False  # wrap the prompt as one user turn with the tokenizer's chat template
    max_prompt_tokens: int = 512  # longer prompts keep their head and tail
    max_target_tokens: int = 128

    def validate(self, p: str) -> None:
        try:
            self.template.format(instruction="", input="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"template may only use {{instruction}} and {{input}} ({exc})",
                              field=f"{p}.template") from None
        _check(self.max_prompt_tokens >= 8, f"{p}.max_prompt_tokens", "must be >= 8")
        _check(self.max_target_tokens >= 1, f"{p}.max_target_tokens", "must be >= 1")


def order_label(order: Any, order_seed: int = 0) -> str:
    """The folder name of a task order: ``curriculum``, ``reverse``, ``random-<seed>`` or, for an
    explicit list of task names, ``custom-<sha256[:8]>`` of the names."""
    if isinstance(order, list):
        return "custom-" + hashlib.sha256("\n".join(order).encode()).hexdigest()[:8]
    if order == "random":
        return f"random-{order_seed}"
    if isinstance(order, str) and order.startswith("random:"):
        return f"random-{int(order.split(':', 1)[1])}"
    return str(order)


def _check_order(order: Any, key: str) -> None:
    if isinstance(order, str):
        if order.startswith("random:"):
            seed = order.split(":", 1)[1]
            _check(seed.lstrip("-").isdigit(), key, f"bad seed in {order!r} (expected random:<integer>)")
            return
        _check(order in ORDERS, key, f"must be curriculum|reverse|random|random:SEED or a list of task names, "
               f"got {order!r}")
        return
    _check(isinstance(order, list) and bool(order) and all(isinstance(x, str) for x in order), key,
           "must be curriculum|reverse|random|random:SEED or a non-empty list of task names")
    dup = next((x for i, x in enumerate(order) if x in order[:i]), None)
    _check(dup is None, key, f"task {dup!r} is listed twice")


@dataclass
class DataConfig:
    """The task stream: where the tasks come from, their order(s) and the splits.

    The *task set* is chosen once: ``tasks`` (if given), then the first ``max_tasks`` in
    ``order``. ``orders`` then lists every order the experiment runs that same set in
    (``curriculum``, ``reverse``, ``random:SEED`` or an explicit list); each (order, seed)
    is one paired run of every strategy. Without ``orders`` the single order is ``order``.
    """

    source: list[str] = field(default_factory=lambda: ["../shared/data/superni"])  # relative to the YAML file
    order: Any = "curriculum"  # curriculum | reverse | random | random:SEED | explicit list of task names
    order_seed: int = 0  # for order: random
    orders: list[Any] | None = None  # several orders of the same task set (paired runs per order)
    tasks: list[str] | None = None  # keep only these tasks (before ordering)
    max_tasks: int | None = None  # keep the first N tasks of `order`
    test_fraction: float = 0.2
    split_seed: int = 0
    max_train_per_task: int | None = None
    max_test_per_task: int | None = None

    def validate(self, p: str) -> None:
        _check(len(self.source) > 0, f"{p}.source", "must name at least one path")
        _check_order(self.order, f"{p}.order")
        if self.orders is not None:
            _check(len(self.orders) > 0, f"{p}.orders", "must list at least one order (or be null)")
            labels: dict[str, int] = {}
            for i, o in enumerate(self.orders):
                _check_order(o, f"{p}.orders[{i}]")
                label = order_label(o, self.order_seed)
                _check(label not in labels, f"{p}.orders[{i}]",
                       f"repeats order {label!r} (already orders[{labels.get(label)}])")
                labels[label] = i
        _check(self.max_tasks is None or self.max_tasks >= 1, f"{p}.max_tasks", "must be >= 1 or null")
        _check(0.0 < self.test_fraction < 1.0, f"{p}.test_fraction", "must be in (0, 1)")
        for k in ("max_train_per_task", "max_test_per_task"):
            v = getattr(self, k)
            _check(v is None or v >= 1, f"{p}.{k}", "must be >= 1 or null")

    def order_list(self) -> list[tuple[str, Any]]:
        """``[(label, order spec)]`` of the orders to run (``orders``, else ``[order]``)."""
        specs = self.orders if self.orders is not None else [self.order]
        return [(order_label(o, self.order_seed), o) for o in specs]


@dataclass
class ReplayConfig:
    """Replay strategies and the planner's inputs."""

    strategies: list[str] = field(default_factory=lambda: ["none", "random", "inscl"])
    budget: int = 200  # per previous task
    encoder: str = "hashing"  # make_encoder spec: hashing | minilm | ...
    tagger: str = "offline"  # make_tagger spec; with tags_file, only for instructions the file lacks (warned)
    tags_file: str | None = None  # JSON {instruction: [tags]} or JSONL {"instruction", "tags"}: any tagger shape
    tag_encoder: str | None = None  # encoder for DBSCAN tag merging (default: the instruction encoder)
    cache_dir: str | None = None  # encoder/tagger caches; default OUTPUT/cache
    distribution: str = "real"
    wasserstein: str = "auto"  # auto | exact | sparse | sinkhorn (PlannerConfig.wasserstein)
    max_exact: int = 2000
    n_neighbors: int = 16
    dbscan_eps: float | None = None  # null: calibrated for the tag encoder (inscl.replay.tag_calibration)
    dbscan_min_samples: int | None = None

    def validate(self, p: str) -> None:
        _check(len(self.strategies) > 0, f"{p}.strategies", "must name at least one strategy")
        for s in self.strategies:
            if s not in STRATEGIES:
                close = difflib.get_close_matches(str(s), STRATEGIES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown strategy {s!r}{hint}; known: {', '.join(STRATEGIES)}",
                                  field=f"{p}.strategies")
        _check(len(set(self.strategies)) == len(self.strategies), f"{p}.strategies", "has duplicates")
        _check(self.budget >= 0, f"{p}.budget", "must be >= 0")
        # Spec syntax is checked here so that a typo fails before the run directory is touched.
        for key, spec in (("encoder", self.encoder), ("tag_encoder", self.tag_encoder)):
            if spec is not None:
                _check(spec in ("hashing", "minilm") or (spec.split(":", 1)[0] in ("st", "causal")
                                                          and len(spec.split(":", 1)) == 2 and spec.split(":", 1)[1]),
                       f"{p}.{key}", f"must be hashing | minilm | st:PATH | causal:PATH, got {spec!r}")
        _check(self.tagger == "offline" or (self.tagger.split(":", 1)[0] in ("offline", "openai", "local")
                                            and len(self.tagger.split(":", 1)) == 2 and self.tagger.split(":", 1)[1]),
               f"{p}.tagger", f"must be offline | offline:ENCODER | openai:MODEL | local:PATH, got {self.tagger!r}")
        _check(self.distribution in ("real", "uniform"), f"{p}.distribution", "must be real|uniform")
        _check(self.wasserstein in ("auto", "exact", "sparse", "sinkhorn"), f"{p}.wasserstein",
               "must be auto|exact|sparse|sinkhorn")
        _check(self.max_exact >= 1, f"{p}.max_exact", "must be >= 1")
        _check(self.n_neighbors >= 1, f"{p}.n_neighbors", "must be >= 1")
        _check(self.dbscan_eps is None or 0 < self.dbscan_eps <= 2, f"{p}.dbscan_eps", "must be in (0, 2] or null")
        _check(self.dbscan_min_samples is None or self.dbscan_min_samples >= 1, f"{p}.dbscan_min_samples",
               "must be >= 1 or null")


@dataclass
class EvalConfig:
    """Greedy generation on the held-out test examples of every task seen so far."""

    max_new_tokens: int = 64  # the cap; per task: its longest train reference (tokens) + margin, + EOS
    per_task_tokens: bool = True  # false: every task generates up to max_new_tokens
    tokens_margin: float = 0.25  # per-task budget = ceil(longest reference * (1 + margin)) + 1
    batch_size: int = 8
    forgetting_threshold: float = 0.5  # ROUGE-L threshold of the forgetting analysis
    metric: str = "superni-rougeL"  # superni-rougeL (official: stemmed, best reference) | rougeL-first
    min_reference: float = 0.05  # Relative Gain: warn when a reference score is below this (or 0)

    def validate(self, p: str) -> None:
        from inscl.runner.scoring import METRICS

        _check(self.metric in METRICS, f"{p}.metric", f"must be {' | '.join(METRICS)}, got {self.metric!r}")
        _check(0.0 <= self.min_reference < 1.0, f"{p}.min_reference", "must be in [0, 1)")
        _check(self.max_new_tokens >= 1, f"{p}.max_new_tokens", "must be >= 1")
        _check(self.tokens_margin >= 0, f"{p}.tokens_margin", "must be >= 0")
        _check(self.batch_size >= 1, f"{p}.batch_size", "must be >= 1")
        _check(0.0 < self.forgetting_threshold < 1.0, f"{p}.forgetting_threshold", "must be in (0, 1)")


@dataclass
class ExperimentConfig:
    """A whole continual fine-tuning experiment (see ``configs/*.yaml``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    data: DataConfig = field(default_factory=DataConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    reference: str = "expert"  # Relative Gain reference: expert (task alone from the base model) | diagonal
    seeds: list[int] = field(default_factory=lambda: [0])
    output_dir: str = "runs/experiment"  # relative to the YAML file
    overwrite: bool = False  # replace results of a different config instead of refusing
    deterministic: bool = False  # torch deterministic algorithms (bit-exact resume on CPU)
    threads: int | None = None  # torch intra-op threads (null: torch default)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in ("model", "finetune", "optim", "prompt", "data", "replay", "evaluation"):
            getattr(self, f).validate(f)
        _check(self.reference in ("expert", "diagonal"), "reference", f"must be expert|diagonal, got "
               f"{self.reference!r}")
        _check(len(self.seeds) > 0 and len(set(self.seeds)) == len(self.seeds), "seeds",
               "must be a non-empty list of distinct integers")
        _check(self.threads is None or self.threads >= 1, "threads", "must be >= 1 or null")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, base_dir: str | Path | None = None,
                  source: str | Path | None = None) -> ExperimentConfig:
        """Builds a validated config; relative ``data.source``/``output_dir``/``tags_file`` resolve
        against ``base_dir`` (the YAML's folder). ``source`` names the file in error messages."""
        try:
            cfg = _build(cls, dict(d or {}), "")
        except ConfigError as exc:
            if source is not None and exc.path is None:
                raise ConfigError(exc.reason, path=source, field=exc.field) from None
            raise
        if base_dir is not None:
            cfg.resolve_paths(Path(base_dir))
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> ExperimentConfig:
        """Reads a YAML experiment file (see ``configs/``)."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read config ({exc.strerror})", path=path) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(f"malformed YAML ({getattr(exc, 'problem', exc)})", path=path,
                             line=mark.line + 1 if mark else None) from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError("the top level must be a mapping", path=path)
        try:
            return cls.from_dict(data, base_dir=path.resolve().parent)
        except ConfigError as exc:
            raise ConfigError(exc.reason, path=path, line=_yaml_line(text, exc.field), field=exc.field) from None

    def resolve_paths(self, base: Path) -> None:
        """Makes relative paths absolute against ``base``."""
        def fix(p: str) -> str:
            return str((base / p).resolve()) if not Path(p).is_absolute() else p

        self.data.source = [fix(s) for s in self.data.source]
        self.output_dir = fix(self.output_dir)
        if self.replay.tags_file:
            self.replay.tags_file = fix(self.replay.tags_file)
        if self.model.name not in ("tiny", "smollm2-135m-instruct") and (base / self.model.name).exists():
            self.model.name = fix(self.model.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def identity_hash(self) -> str:
        """sha256 of everything that changes results (not output_dir/overwrite/strategies/seeds/orders)."""
        d = self.to_dict()
        for k in ("output_dir", "overwrite", "seeds", "threads"):
            d.pop(k)
        d["data"].pop("orders")  # each order has its own sub-directory: more orders extend a run
        d["replay"].pop("strategies")
        d["replay"].pop("cache_dir")
        d["evaluation"].pop("min_reference")  # only flags weak references in results.json
        d["model"].pop("cache_dir")
        d["model"].pop("device")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A validated copy with top-level or dotted (``optim.max_steps``) fields changed."""
        d = self.to_dict()
        for key, value in changes.items():
            parts = key.split(".")
            node = d
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = value
        return ExperimentConfig.from_dict(d)


def _yaml_line(text: str, field: str | None) -> int | None:
    """The 1-based line of a dotted key path (``optim.lr``, ``seeds[1]``) in YAML text."""
    import re

    import yaml

    if not field:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in field.split("."):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", part)
        if m is None or not isinstance(node, yaml.MappingNode):
            return line
        match = next(((k, v) for k, v in node.value if k.value == m.group(1)), None)
        if match is None:
            return line
        line, node = match[0].start_mark.line + 1, match[1]
        for idx in re.findall(r"\[(\d+)\]", m.group(2)):
            if not isinstance(node, yaml.SequenceNode) or int(idx) >= len(node.value):
                return line
            node = node.value[int(idx)]
            line = node.start_mark.line + 1
    return line


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise ConfigError(f"unknown key{hint} (known: {', '.join(names)})", field=path)
        kwargs[key] = _coerce(hints[key], value, path)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(tp):
        if value is None:
            return tp()
        if not isinstance(value, dict):
            raise ConfigError(f"must be a mapping, got {type(value).__name__}", field=path)
        return _build(tp, value, path + ".")
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin is not None and type(None) in args:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path)
    if origin is list:
        if path == "data.source" and isinstance(value, str):  # one folder or file by path
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"must be a list, got {type(value).__name__}", field=path)
        return [_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", field=path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be an integer, got {value!r}", field=path)
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads "2e-5" as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"must be a number, got {value!r}", field=path)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"must be a string, got {value!r}", field=path)
        return value
    return value
