"""The two operations every merge method shares: a Gram matrix, then a linear combination.

slerp, multislerp and linear all produce Σ c_i·x_i with scalar coefficients c_i that depend
only on the inner products ⟨x_i, x_j⟩. Splitting the work this way lets the streaming merge
accumulate the Gram matrix chunk by chunk and then write the combination chunk by chunk.
"""

from __future__ import annotations

import numpy as np
import torch


def gram_matrix(tensors: list[torch.Tensor]) -> np.ndarray:
    """(N, N) float64 matrix of inner products ⟨x_i, x_j⟩ of the flattened tensors.

    Pairwise dots rather than one stacked (N, numel) matmul: the streaming merge calls this on
    32 MiB blocks per input, and stacking would hold another copy of all of them.
    """
    flat = [x.reshape(-1).to(torch.float64) for x in tensors]  # N × (numel,)
    n = len(flat)
    g = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            g[i, j] = g[j, i] = float(torch.dot(flat[i], flat[j]))
    return g


def combine(tensors: list[torch.Tensor], coefficients, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Σ c_i·x_i computed in float32 (float64 for float64 output), cast to ``out_dtype``.

    ``out_dtype`` defaults to the first tensor's dtype, so a bf16 checkpoint stays bf16.
    """
    out_dtype = out_dtype or tensors[0].dtype
    compute = torch.float64 if out_dtype == torch.float64 else torch.float32
    acc = torch.zeros(tensors[0].shape, dtype=compute)
    for x, c in zip(tensors, coefficients):
        if c != 0.0:  # 0·inf would be nan: a checkpoint with weight 0 must not touch the result
            acc.add_(x.to(compute), alpha=float(c))
    return acc.to(out_dtype)
