"""Linear merge: the weighted average Σ w_i·x_i with weights normalised to sum to 1."""

from __future__ import annotations

import numpy as np
import torch

from .combine import combine


def normalize_weights(weights, n: int) -> np.ndarray:
    """(n,) float64 weights summing to 1; ``None`` gives uniform weights. Refuses negatives."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{w.size} weights given for {n} checkpoints; give one weight per checkpoint")
    if (w < 0).any() or not np.isfinite(w).all():
        bad = next(x for x in w if x < 0 or not np.isfinite(x))
        raise ValueError(f"weight {bad} is not allowed; weights must be finite and >= 0")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0; at least one weight must be positive")
    return w / w.sum()


def linear(tensors: list[torch.Tensor], weights=None) -> torch.Tensor:
    """Weighted average of same-shape tensors in float32, cast back to the first dtype."""
    shapes = {tuple(x.shape) for x in tensors}
    if len(shapes) != 1:
        raise ValueError(f"linear merge needs tensors of one shape, got {sorted(shapes)}")
    return combine(tensors, normalize_weights(weights, len(tensors)))
