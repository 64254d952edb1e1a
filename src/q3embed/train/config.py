"""Training configs as typed models (``q3embed.schema``). No torch import here.

A YAML file maps onto ``EmbedTrainConfig`` / ``RerankTrainConfig``; ``key=value`` overrides use
dotted paths (``loss.temperature=0.02``). Unknown keys, wrong types and out-of-range values are
errors that name the key and what is accepted, raised before any model is loaded.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from ..schema import Field, TypedConfig, model_validator, read_yaml

Scheduler = Literal["linear", "cosine", "constant"]
SaveDtype = Literal["auto", "float32", "bfloat16", "float16"]  # "auto": the base model's release dtype
SCHEDULERS = typing.get_args(Scheduler)
SAVE_DTYPES = typing.get_args(SaveDtype)
DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class DataConfig(TypedConfig):
    section = "data"
    train_file: str = ""
    num_negatives: int = Field(7, ge=0)  # hard negatives per query in each step
    max_length: int = Field(512, ge=8)  # token limit for queries and documents
    query_instruction: str | None = None  # for rows without one; None = the model's default
    shuffle: bool = True

    @model_validator(mode="after")
    def _required(self):
        if not self.train_file:
            raise ValueError("data.train_file is required: a JSONL of {query, pos, neg} rows")
        return self


class LossConfig(TypedConfig):
    """The paper's InfoNCE; each term of Z_i can be switched off (see losses/infonce.py)."""

    section = "loss"
    temperature: float = Field(0.05, gt=0)
    hard_negatives: bool = True  # s(q_i, d_ik-)
    in_batch_documents: bool = True  # s(q_i, d_j), documents of the other rows
    in_batch_queries: bool = True  # s(q_i, q_j)
    in_batch_doc_doc: bool = True  # s(d_i+, d_j)
    false_negative_mask: bool = True
    mask_margin: float = Field(0.1, ge=0)
    mrl_dims: list[int] | None = None  # Matryoshka: e.g. [64, 128, 384]
    mrl_weights: list[float] | None = None  # default 1 per dim

    @model_validator(mode="after")
    def _mrl(self):
        if self.mrl_dims is not None:
            if not (self.mrl_dims and all(d >= 1 for d in self.mrl_dims)):
                raise ValueError(f"loss.mrl_dims must be a non-empty list of positive ints, got {self.mrl_dims}")
            if self.mrl_weights is not None and len(self.mrl_weights) != len(self.mrl_dims):
                raise ValueError(f"loss.mrl_weights has {len(self.mrl_weights)} entries for {len(self.mrl_dims)} mrl_dims")
        elif self.mrl_weights is not None:
            raise ValueError("loss.mrl_weights needs loss.mrl_dims")
        return self


class LoraConfig(TypedConfig):
    section = "lora"
    enabled: bool = False  # False: full fine-tuning
    rank: int = Field(16, ge=1)
    alpha: float = 32.0
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))

    @model_validator(mode="after")
    def _targets(self):
        if not self.target_modules:
            raise ValueError("lora.target_modules must name at least one module")
        return self


class OptimConfig(TypedConfig):
    section = "optim"
    lr: float = Field(2e-5, gt=0)
    weight_decay: float = 0.01
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    scheduler: Scheduler = "linear"
    max_grad_norm: float | None = 1.0
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1)  # stops early when set


class RunConfig(TypedConfig):
    """What every trainer shares: model, output, batch, precision, checkpoints, logging."""

    model: str = ""
    output_dir: str = ""
    batch_size: int = 32  # queries (or pairs) per optimizer step, over all processes
    gradcache_chunk: int | None = Field(None, ge=1)  # texts per forward in GradCache; None = one forward per step
    gradient_checkpointing: bool = False
    bf16: bool = False  # autocast to bfloat16; weights and optimizer stay fp32
    # Precision of the exported model. "auto": the base model's release dtype (config.json
    # dtype/torch_dtype; bf16 for official Qwen3), so the fine-tune serves as fast as its base.
    save_dtype: SaveDtype = "auto"
    seed: int = 0
    device: str | None = None
    save_every: int = Field(0, ge=0)  # steps between checkpoints; 0 = only at the end
    keep_checkpoints: int | None = Field(None, ge=1)  # newest N kept; None keeps all
    log_every: int = Field(1, ge=1)
    resume: bool = True  # continue from the newest checkpoint in output_dir
    tensorboard: bool = False
    progress: bool = True

    @model_validator(mode="after")
    def _run(self):
        if not self.model:
            raise ValueError("model is required: a checkpoint directory or hub name")
        if not self.output_dir:
            raise ValueError("output_dir is required")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (contrastive batches need in-batch peers), got {self.batch_size}")
        return self


class EmbedTrainConfig(RunConfig):
    data: DataConfig = Field(default_factory=DataConfig)  # train_file is required
    loss: LossConfig = Field(default_factory=LossConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)


class RerankLossConfig(TypedConfig):
    section = "loss"
    # "vocab": -log p(label) over the whole vocabulary (paper); "yes_no": over {no, yes}
    label_softmax: Literal["vocab", "yes_no"] = "vocab"


class RerankTrainConfig(RunConfig):
    data: DataConfig = Field(default_factory=DataConfig)  # num_negatives: "no" pairs per "yes" pair
    loss: RerankLossConfig = Field(default_factory=RerankLossConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)


# ---------------------------------------------------------------- loading


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
    return classes[kind].from_dict(raw)

