"""Merge inputs: a checkpoint directory, or a LoRA adapter merged into its base on the fly.

Both are ``TensorSource``s (tensor_source.py): the tensors' names, dtypes and shapes,
``read_rows(name, start, stop)``, the model config, and the directory whose config and
tokenizer files the output copies.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.layout import read_json, read_layout
from ..model.resolve import resolve_model_path
from ..model.safetensors_file import TensorInfo, read_rows
from .lora import LoraSource
from .stream import read_checkpoint_index
from .tensor_source import ADAPTER_CONFIG, TensorSource


class CheckpointSource:
    """A safetensors checkpoint in the HF or sentence-transformers layout: a ``TensorSource``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.label = str(root)
        self.model_dir = read_layout(self.root).model_dir
        self.config = read_json(self.model_dir / "config.json")
        self.tensors: dict[str, TensorInfo] = read_checkpoint_index(self.model_dir)

    @property
    def names(self) -> list[str]:
        return list(self.tensors)

    def dtype(self, name: str) -> torch.dtype:
        return self.tensors[name].dtype

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def read_rows(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return read_rows(self.tensors[name], start, stop)


def is_adapter(path: Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).exists()


def open_source(path_or_name: str | Path, lora_base: str | Path | None = None) -> TensorSource:
    """A ``CheckpointSource``, or a ``LoraSource`` when the directory holds a peft adapter.

    The adapter's base is ``lora_base`` if given, else the adapter config's
    ``base_model_name_or_path``.
    """
    root = resolve_model_path(path_or_name)
    if not is_adapter(root):
        return CheckpointSource(root)

    base = lora_base or read_json(root / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not base:
        raise CheckpointError(f"LoRA adapter {root} names no base model (base_model_name_or_path is empty); "
                              "pass the base checkpoint with --lora-base")
    base_source = open_source(base)
    if isinstance(base_source, LoraSource):
        raise CheckpointError(f"the base of adapter {root} is itself an adapter ({base}); give a full checkpoint")
    return LoraSource(root, base_source)
