"""Exact inner-product top-k over stored blocks, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .storage import inner_products

BLOCK_ROWS = 32768


def top_m(scores: np.ndarray, ids: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` best columns of each row, sorted best first. scores, ids: (Q, n) -> (Q, min(m, n))."""
    if scores.shape[1] > m:
        part = np.argpartition(-scores, m - 1, axis=1)[:, :m]  # (Q, m) unordered
        scores = np.take_along_axis(scores, part, 1)
        ids = np.take_along_axis(ids, part, 1)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def exact_top_rows(queries: np.ndarray, blocks: Iterable[tuple[int, np.ndarray, np.ndarray | None, np.ndarray]],
                   m: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``m`` live rows per query by exact inner product.

    queries: (Q, d) float32. blocks: (first global row, stored (n, d), scales (n,) or None, live (n,) bool).
    Returns scores (Q, m') float32 and global rows (Q, m') int64, best first; m' <= m drops dead rows.
    A running top-m is merged block by block, so memory stays O(Q * (m + BLOCK_ROWS)).
    """
    Q = queries.shape[0]
    best_s = np.empty((Q, 0), np.float32)
    best_i = np.empty((Q, 0), np.int64)
    for first, stored, scales, live in blocks:
        for a in range(0, len(stored), BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, len(stored))
            s = inner_products(queries, stored[a:b], None if scales is None else scales[a:b])  # (Q, n)
            s[:, ~live[a:b]] = -np.inf
            ids = np.broadcast_to(np.arange(first + a, first + b, dtype=np.int64), s.shape)
            best_s, best_i = top_m(np.concatenate([best_s, s], 1), np.concatenate([best_i, ids], 1), m)
    keep = np.isfinite(best_s).all(0)  # every query sees the same live rows, so -inf columns line up
    return best_s[:, keep].astype(np.float32), best_i[:, keep]
