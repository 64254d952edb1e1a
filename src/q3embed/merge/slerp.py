"""Spherical linear interpolation (slerp) of two tensors, as in mergekit.

The formula, applied to each tensor of a checkpoint flattened to a vector:

    â = a / ‖a‖,  b̂ = b / ‖b‖               (normalised copies, used only for the angle)
    cos θ = ⟨â, b̂⟩,  θ = arccos(cos θ)
    slerp(a, b; t) = sin((1-t)·θ)/sin θ · a  +  sin(t·θ)/sin θ · b

The sin weights multiply the *unnormalised* tensors, so the result is not renormalised;
for equal norms it is the point at fraction t along the great circle from a to b.
When the tensors are nearly colinear (|cos θ| > 1 - eps) sin θ ≈ 0 makes the weights
ill-conditioned, and the result is plain linear interpolation instead:

    lerp(a, b; t) = (1-t)·a + t·b

The same fallback applies when either tensor is (nearly) zero, since a zero tensor has no
direction. Everything here is expressed through the 2×2 Gram matrix G = [[⟨a,a⟩, ⟨a,b⟩],
[⟨b,a⟩, ⟨b,b⟩]] so that the streaming merge can compute G chunk by chunk and then write
c_a·a + c_b·b without ever holding a whole tensor.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .combine import combine, gram_matrix

# Above this |cos θ| the tensors count as colinear and slerp falls back to lerp. mergekit
# uses 0.9995; the same threshold keeps results comparable.
COLINEAR_EPS = 5e-4
# Norms below this are treated as zero tensors (no direction to interpolate).
ZERO_NORM = 1e-12


def slerp_coefficients(gram: np.ndarray, t: float, eps: float = COLINEAR_EPS) -> tuple[float, float]:
    """(c_a, c_b) such that slerp(a, b; t) = c_a·a + c_b·b, from the Gram matrix of (a, b)."""
    norm_a, norm_b = math.sqrt(max(gram[0, 0], 0.0)), math.sqrt(max(gram[1, 1], 0.0))
    if norm_a < ZERO_NORM or norm_b < ZERO_NORM:
        return 1.0 - t, t
    cos_theta = float(np.clip(gram[0, 1] / (norm_a * norm_b), -1.0, 1.0))
    if abs(cos_theta) > 1.0 - eps:
        return 1.0 - t, t
    theta = math.acos(cos_theta)
    sin_theta = math.sin(theta)
    # sin(θ)/sin(θ) is exactly 1.0 in floating point, so t=0 gives a and t=1 gives b bit for bit.
    return math.sin((1.0 - t) * theta) / sin_theta, math.sin(t * theta) / sin_theta


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = COLINEAR_EPS) -> torch.Tensor:
    """Slerp of two same-shape tensors (formula in the module docstring); keeps a's dtype."""
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t={t} is outside [0, 1]")
    return combine([a, b], slerp_coefficients(gram_matrix([a, b]), t, eps))


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """(1-t)·a + t·b in float32, cast back to a's dtype."""
    return combine([a, b], (1.0 - t, t))
