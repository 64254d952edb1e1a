"""What a merge reads from: the ``TensorSource`` protocol.

A checkpoint directory (``CheckpointSource``) and a LoRA adapter merged into its base on the fly
(``LoraSource``) both satisfy it; the merge and the adapter code depend on this protocol, not on
each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from ..model.safetensors_file import TensorInfo

ADAPTER_CONFIG = "adapter_config.json"


@runtime_checkable
class TensorSource(Protocol):
    root: Path  # the directory the user named
    model_dir: Path  # the directory whose config and tokenizer files the output copies
    config: dict  # the model's config.json
    label: str  # how messages name this input
    tensors: dict[str, TensorInfo]

    @property
    def names(self) -> list[str]: ...

    def dtype(self, name: str) -> torch.dtype: ...

    def shape(self, name: str) -> tuple[int, ...]: ...

    def read_rows(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows [start, stop) of tensor ``name`` (a fresh tensor in the stored dtype)."""
        ...
