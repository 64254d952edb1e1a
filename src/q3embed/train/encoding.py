"""Token ids -> pooled embeddings with gradients: the trainable side of ``Embedder``.

Uses the same padding and pooling as ``Embedder`` (right padding, the checkpoint's pooling),
so what is trained is exactly what ``Embedder.encode`` later computes.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from ..runtime.batching import pad_batch
from ..runtime.pooling import POOLERS


class EmbeddingForward:
    def __init__(self, model, pooling: str, pad_id: int, device: torch.device, bf16: bool = False):
        self.model, self.pool, self.pad_id, self.device, self.bf16 = model, POOLERS[pooling], pad_id, device, bf16

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def __call__(self, rows: list[list[int]]) -> torch.Tensor:
        """(B,) token id lists -> (B, H) float32 pooled, not normalised (losses normalise)."""
        ids, mask = pad_batch(rows, self.pad_id, side="right")  # (B, T), (B, T)
        ids, mask = ids.to(self.device), mask.to(self.device)
        with self.autocast():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            return self.pool(hidden, mask).float()  # (B, H)

    def tokens(self, rows: list[list[int]]) -> int:
        return sum(len(r) for r in rows)
