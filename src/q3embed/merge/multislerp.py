"""Multislerp: the weighted spherical mean of N tensors (N >= 1).

Each tensor x_i is split into a norm r_i = ‖x_i‖ and a direction u_i = x_i / r_i. The merged
direction p is the weighted Fréchet (Karcher) mean of the u_i on the unit sphere, the point
minimising Σ w_i·θ(p, u_i)²; the merged norm is the weighted mean of the norms:

    p ← normalise(Σ w_i u_i)                                  (start: projected Euclidean mean)
    repeat:  θ_i = arccos⟨p, u_i⟩
             v   = Σ w_i · θ_i / sin θ_i · (u_i - cos θ_i · p)   (mean of the log maps at p)
             p  ← cos‖v‖ · p + sin‖v‖ · v / ‖v‖                 (exp map), until ‖v‖ < tol
    multislerp(x; w) = (Σ w_i r_i) · p

For two tensors with weights (1-t, t) the direction is exactly that of slerp(x_0, x_1; t)
between the unit vectors (a geodesic's weighted mean is the point at fraction t); the norm is
(1-t)·r_0 + t·r_1, so for equal norms multislerp equals slerp.

p always stays in the span of the u_i, so it is carried as coefficients c (p = Σ c_j u_j)
and every inner product comes from the N×N Gram matrix: the iteration costs O(N²) numbers,
not O(numel), and the streaming merge never holds a whole tensor. Falls back to the
weighted linear average when a tensor is (nearly) zero, all tensors are colinear, or the
weighted directions cancel (antipodal inputs have no unique mean).
"""

from __future__ import annotations

import numpy as np
import torch

from .linear import normalize_weights
from .combine import combine, gram_matrix
from .slerp import COLINEAR_EPS, ZERO_NORM

MAX_ITERATIONS = 200
TOLERANCE = 1e-12


def multislerp_coefficients(gram: np.ndarray, weights, eps: float = COLINEAR_EPS) -> np.ndarray:
    """Coefficients c with multislerp(x; w) = Σ c_i·x_i, from the Gram matrix of the x_i."""
    w = normalize_weights(weights, len(gram))
    r = np.sqrt(np.clip(np.diag(gram), 0.0, None))  # (N,) norms
    if (r < ZERO_NORM).any():
        return w
    k = gram / np.outer(r, r)  # (N, N) Gram matrix of the unit directions
    if (np.abs(k) > 1.0 - eps).all():
        return w
    mean_sq = float(w @ k @ w)  # ‖Σ w_i u_i‖²
    if mean_sq < eps:
        return w
    c = w / np.sqrt(mean_sq)  # (N,)
    for _ in range(MAX_ITERATIONS):
        cos = np.clip(k @ c, -1.0, 1.0)  # (N,) ⟨p, u_i⟩
        theta = np.arccos(cos)
        # θ/sin θ → 1 as θ → 0; the series keeps it finite for u_i ≈ p
        scale = np.where(theta > 1e-6, theta / np.maximum(np.sin(theta), 1e-300), 1.0 + theta**2 / 6)
        # log map of u_i at p, in coefficients: scale_i·(e_i - cos_i·c); weighted sum over i
        g = w * scale - (w * scale * cos).sum() * c  # (N,)
        step = float(np.sqrt(max(g @ k @ g, 0.0)))
        if step < TOLERANCE:
            break
        c = np.cos(step) * c + np.sin(step) / step * g
        c = c / np.sqrt(c @ k @ c)  # re-project against rounding drift
    return float(w @ r) * c / r


def multislerp(tensors: list[torch.Tensor], weights=None, eps: float = COLINEAR_EPS) -> torch.Tensor:
    """Weighted spherical mean of same-shape tensors (module docstring); keeps the first dtype."""
    shapes = {tuple(x.shape) for x in tensors}
    if len(shapes) != 1:
        raise ValueError(f"multislerp needs tensors of one shape, got {sorted(shapes)}")
    return combine(tensors, multislerp_coefficients(gram_matrix(tensors), weights, eps))
