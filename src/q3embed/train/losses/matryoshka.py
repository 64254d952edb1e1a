"""Matryoshka (MRL) wrapper: the base loss on the first ``dim`` components, weighted over dims.

The base loss normalises, so truncating to the first ``dim`` components and re-normalising
trains exactly the vectors ``Embedder.encode(..., dim=dim)`` returns.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class MatryoshkaLoss(nn.Module):
    def __init__(self, base: nn.Module, dims: list[int], weights: list[float] | None = None):
        super().__init__()
        if not dims:
            raise ValueError("dims must name at least one dimension")
        weights = [1.0] * len(dims) if weights is None else list(weights)
        if len(weights) != len(dims):
            raise ValueError(f"{len(weights)} weights for {len(dims)} dims")
        self.base, self.dims, self.weights = base, list(dims), weights

    def forward(self, q: torch.Tensor, d_pos: torch.Tensor, d_neg: torch.Tensor | None = None, **kw) -> torch.Tensor:
        total = q.new_zeros((), dtype=torch.float32)
        for dim, w in zip(self.dims, self.weights):
            neg = d_neg[..., :dim] if d_neg is not None else None
            total = total + w * self.base(q[:, :dim], d_pos[:, :dim], neg, **kw)
        return total
