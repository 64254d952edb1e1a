"""MRL funnel: rank every row at a low dimension, then rescore the best candidates at full dimension.

Matryoshka-trained embeddings (Qwen3-Embedding) keep most of their ranking power in the first
components, so a d/8-wide pass finds the candidates for about 1/8 of the arithmetic and the
full-width rescore fixes their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.vectors import l2_normalize
from .exact import top_m


@dataclass(frozen=True)
class FunnelConfig:
    dim: int | None = None  # first-pass dimension; None = a quarter of the index dim, at least 32
    candidates: int = 100  # rows rescored at full dimension per query

    def __post_init__(self) -> None:
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"funnel dim must be positive, got {self.dim}")
        if self.candidates < 1:
            raise ValueError(f"funnel candidates must be positive, got {self.candidates}")

    def first_pass_dim(self, index_dim: int) -> int:
        dim = self.dim if self.dim is not None else max(32, index_dim // 4)
        if dim > index_dim:
            raise ValueError(f"funnel dim {dim} exceeds the index dim {index_dim}")
        return dim


def low_dim_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(n, d) -> (n, dim): the MRL prefix, L2-normalised, contiguous for a fast first pass."""
    return np.ascontiguousarray(l2_normalize(np.asarray(vectors[:, :dim], dtype=np.float32)))


def funnel_search(queries: np.ndarray, low: np.ndarray, full: np.ndarray, m: int, candidates: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Best ``m`` rows per query: top ``candidates`` at low dim, rescored at full dim.

    queries: (Q, d) full-dim, normalised. low: (n, d_low) from ``low_dim_matrix``; full: (n, d).
    Returns scores (Q, m') and row numbers into ``low``/``full`` (Q, m'), best first.
    """
    d_low = low.shape[1]
    q_low = l2_normalize(queries[:, :d_low])  # (Q, d_low)
    n = low.shape[0]
    c = min(max(candidates, m), n)
    first = q_low @ low.T  # (Q, n)
    _, cand = top_m(first, np.broadcast_to(np.arange(n), first.shape), c)  # (Q, c)
    rescored = np.einsum("qd,qcd->qc", queries, full[cand])  # (Q, c) full-dim inner products
    return top_m(rescored.astype(np.float32), cand, m)
