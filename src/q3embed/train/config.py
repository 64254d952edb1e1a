"""Training configs as dataclasses, validated in ``__post_init__``. No torch import here.

Types are checked by pydantic (strict mode) field by field; this module keeps the messages:
the dotted key, what it holds and what is accepted.

A YAML file maps onto ``EmbedTrainConfig`` / ``RerankTrainConfig``; ``key=value`` overrides use
dotted paths (``loss.temperature=0.02``). Unknown keys and wrong types are errors that name the
key and what is accepted, raised before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pydantic

from ..errors import Q3EmbedError


class ConfigError(Q3EmbedError, ValueError):
    """A training config that cannot run: unknown key, wrong type, impossible value, missing file."""


SCHEDULERS = ("linear", "cosine", "constant")
SAVE_DTYPES = ("auto", "float32", "bfloat16", "float16")  # "auto": the base model's release dtype
DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass
class DataConfig:
    train_file: str = ""
    num_negatives: int = 7  # hard negatives per query in each step
    max_length: int = 512  # token limit for queries and documents
    query_instruction: str | None = None  # for rows without one; None = the model's default
    shuffle: bool = True

    def __post_init__(self) -> None:
        _check(bool(self.train_file), "data.train_file is required: a JSONL of {query, pos, neg} rows")
        _check(self.num_negatives >= 0, f"data.num_negatives must be >= 0, got {self.num_negatives}")
        _check(self.max_length >= 8, f"data.max_length must be >= 8, got {self.max_length}")


@dataclass
class LossConfig:
    """The paper's InfoNCE; each term of Z_i can be switched off (see losses/infonce.py)."""

    temperature: float = 0.05
    hard_negatives: bool = True  # s(q_i, d_ik-)
    in_batch_documents: bool = True  # s(q_i, d_j), documents of the other rows
    in_batch_queries: bool = True  # s(q_i, q_j)
    in_batch_doc_doc: bool = True  # s(d_i+, d_j)
    false_negative_mask: bool = True
    mask_margin: float = 0.1
    mrl_dims: list[int] | None = None  # Matryoshka: e.g. [64, 128, 384]
    mrl_weights: list[float] | None = None  # default 1 per dim

    def __post_init__(self) -> None:
        _check(self.temperature > 0, f"loss.temperature must be > 0, got {self.temperature}")
        _check(self.mask_margin >= 0, f"loss.mask_margin must be >= 0, got {self.mask_margin}")
        if self.mrl_dims is not None:
            _check(len(self.mrl_dims) > 0 and all(d >= 1 for d in self.mrl_dims),
                   f"loss.mrl_dims must be a non-empty list of positive ints, got {self.mrl_dims}")
            if self.mrl_weights is not None:
                _check(len(self.mrl_weights) == len(self.mrl_dims),
                       f"loss.mrl_weights has {len(self.mrl_weights)} entries for {len(self.mrl_dims)} mrl_dims")
        else:
            _check(self.mrl_weights is None, "loss.mrl_weights needs loss.mrl_dims")


@dataclass
class LoraConfig:
    enabled: bool = False  # False: full fine-tuning
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))

    def __post_init__(self) -> None:
        _check(self.rank >= 1, f"lora.rank must be >= 1, got {self.rank}")
        _check(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1), got {self.dropout}")
        _check(len(self.target_modules) > 0, "lora.target_modules must name at least one module")


@dataclass
class OptimConfig:
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    max_grad_norm: float | None = 1.0
    epochs: int = 1
    max_steps: int | None = None  # stops early when set

    def __post_init__(self) -> None:
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(0.0 <= self.warmup_ratio < 1.0, f"optim.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        _check(self.scheduler in SCHEDULERS, f"optim.scheduler {self.scheduler!r} is not known; accepted: {', '.join(SCHEDULERS)}")
        _check(self.epochs >= 1, f"optim.epochs must be >= 1, got {self.epochs}")
        _check(self.max_steps is None or self.max_steps >= 1, f"optim.max_steps must be >= 1, got {self.max_steps}")


@dataclass
class RunConfig:
    """What every trainer shares: model, output, batch, precision, checkpoints, logging."""

    model: str = ""
    output_dir: str = ""
    batch_size: int = 32  # queries (or pairs) per optimizer step, over all processes
    gradcache_chunk: int | None = None  # texts per forward in GradCache; None = one forward per step
    gradient_checkpointing: bool = False
    bf16: bool = False  # autocast to bfloat16; weights and optimizer stay fp32
    # Precision of the exported model. "auto": the base model's release dtype (config.json
    # dtype/torch_dtype; bf16 for official Qwen3), so the fine-tune serves as fast as its base.
    save_dtype: str = "auto"
    seed: int = 0
    device: str | None = None
    save_every: int = 0  # steps between checkpoints; 0 = only at the end
    keep_checkpoints: int | None = None  # newest N kept; None keeps all
    log_every: int = 1
    resume: bool = True  # continue from the newest checkpoint in output_dir
    tensorboard: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        _check(bool(self.model), "model is required: a checkpoint directory or hub name")
        _check(bool(self.output_dir), "output_dir is required")
        _check(self.batch_size >= 2, f"batch_size must be >= 2 (contrastive batches need in-batch peers), got {self.batch_size}")
        if self.gradcache_chunk is not None:
            _check(self.gradcache_chunk >= 1, f"gradcache_chunk must be >= 1, got {self.gradcache_chunk}")
        _check(self.save_dtype in SAVE_DTYPES,
               f"save_dtype {self.save_dtype!r} is not known; accepted: {', '.join(SAVE_DTYPES)}")
        _check(self.save_every >= 0, f"save_every must be >= 0, got {self.save_every}")
        _check(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        _check(self.keep_checkpoints is None or self.keep_checkpoints >= 1,
               f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")


@dataclass
class EmbedTrainConfig(RunConfig):
    data: DataConfig = field(default_factory=DataConfig)  # train_file is required
    loss: LossConfig = field(default_factory=LossConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class RerankLossConfig:
    label_softmax: str = "vocab"  # "vocab": -log p(label) over the whole vocabulary (paper); "yes_no": over {no, yes}

    def __post_init__(self) -> None:
        _check(self.label_softmax in ("vocab", "yes_no"),
               f"loss.label_softmax {self.label_softmax!r} is not known; accepted: vocab, yes_no")


@dataclass
class RerankTrainConfig(RunConfig):
    data: DataConfig = field(default_factory=DataConfig)  # num_negatives: "no" pairs per "yes" pair
    loss: RerankLossConfig = field(default_factory=RerankLossConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


# ---------------------------------------------------------------- loading and checking


def config_from_dict(cls, raw: dict, where: str = ""):
    """Build dataclass ``cls`` from a plain dict, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where.rstrip('.') or 'config'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}; accepted here: {', '.join(sorted(names))}")
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = config_from_dict(typ, value, f"{path}.")
        else:
            kwargs[key] = _coerce(value, typ, path)
    try:
        return cls(**kwargs)
    except TypeError as e:  # pragma: no cover - all fields have defaults
        raise ConfigError(f"{where or 'config'}: {e}") from None


_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@functools.lru_cache(maxsize=None)
def _adapter(typ) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(typ)


def _coerce(value, typ, path: str):
    """Check ``value`` against a field annotation with pydantic in strict mode (an int is a valid
    float; YAML 1.1's "1e-4", read as a string, is a float too); errors name the key."""
    if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()) and _accepts_float(typ):
        value = float(value)
    try:
        return _adapter(typ).validate_python(value, strict=True)
    except pydantic.ValidationError as e:
        index = next((x for err in e.errors() for x in err["loc"] if isinstance(x, int)), None)
        if index is not None and typing.get_origin(typ) in (list, typing.Union, types.UnionType):
            item = next(a for a in _non_none(typ) if typing.get_origin(a) is list)
            (item_type,) = typing.get_args(item)
            bad = value[index]
            raise ConfigError(f"{path}[{index}] must be {_type_name(item_type)}, got {type(bad).__name__} {bad!r:.60}") from None
        expected = " or ".join(_type_name(a) for a in _non_none(typ))
        if typing.get_origin(typ) is list or any(typing.get_origin(a) is list for a in _non_none(typ)):
            expected = "a list of " + " or ".join(_type_name(typing.get_args(a)[0]) for a in _non_none(typ)
                                                  if typing.get_origin(a) is list)
        raise ConfigError(f"{path} must be {expected}, got {type(value).__name__} {value!r:.60}") from None


def _non_none(typ) -> list:
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(typ) if a is not type(None)]
    return [typ]


def _accepts_float(typ) -> bool:
    return float in _non_none(typ)


def _type_name(typ) -> str:
    return getattr(typ, "__name__", None) or str(typ).replace("typing.", "")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``["loss.temperature=0.02", "lora.enabled=true"]`` -> nested updates; values parse as YAML."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (dotted keys for sections, e.g. optim.lr=1e-4)")
        key, text = item.split("=", 1)
        value = yaml.safe_load(text) if text != "" else None
        node = raw
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = value
    return raw


def load_config(path: str | Path | None, overrides: list[str] | None = None, kind: str = "embed"):
    """Read a YAML config (or none), apply overrides, validate. kind: "embed" or "rerank"."""
    classes = {"embed": EmbedTrainConfig, "rerank": RerankTrainConfig}
    if kind not in classes:
        raise ValueError(f"kind must be 'embed' or 'rerank', got {kind!r}")
    raw = read_yaml(path, ConfigError, "config file") if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(classes[kind], raw)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def read_yaml(path: str | Path, error: type[Exception], what: str):
    """The parsed YAML at ``path`` ({} when empty); a missing file or bad YAML raises ``error`` naming it.
    The one reader of the training configs and the pipeline's recipes."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise error(f"{path}: invalid YAML ({e})") from None
