"""The one L2 normaliser for numpy vectors (search, funnel, MRL evaluation).

Torch tensors use ``torch.nn.functional.normalize`` (runtime/pooling.py); the 1e-12 floor here
matches its default eps, so a zero row stays zero in both.
"""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """(N, d) -> (N, d) rows of unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (N, 1)
    return x / np.maximum(norms, 1e-12)
