"""What the index must record about the model (name, width, probe vectors), computed where the model loads.

The driver never loads the model itself: on a GPU cluster it may have no GPU and too little memory.
One Ray task loads it once, beside the actor pool, and returns a small card that stands in for an
Embedder wherever only these facts are read (``Index.create``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ModelCard:
    name: str
    width: int
    dim: int
    probe_texts: tuple[str, ...]
    probe: np.ndarray  # (len(probe_texts), dim) float32

    def check_dim(self, dim: int | None) -> int:
        if dim not in (None, self.dim):
            raise ValueError(f"this card was made for dim {self.dim}, not {dim}")
        return self.dim

    def encode_documents(self, texts, dim: int | None = None, **_) -> np.ndarray:
        if tuple(texts) != self.probe_texts or dim not in (None, self.dim):
            raise ValueError("a ModelCard only answers the index's probe texts")
        return self.probe


def make_card(model: str, dim: int | None, device: str | None, torch_dtype: str | None,
              max_length: int | None) -> ModelCard:
    """Runs as a Ray task: load the model and embed the index's probe texts."""
    from ..engine import Embedder
    from ..stores.spec import PROBE_TEXTS

    embedder = Embedder.load(model, device=device, dtype=torch_dtype, max_length=max_length)
    dim = embedder.check_dim(dim)
    probe = np.asarray(embedder.encode_documents(list(PROBE_TEXTS), dim=dim), np.float32)
    return ModelCard(embedder.name, embedder.width, dim, tuple(PROBE_TEXTS), probe)
