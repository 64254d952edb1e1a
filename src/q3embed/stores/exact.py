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


def exact_top_k(queries: np.ndarray, docs: np.ndarray, k: int, exclude: np.ndarray | None = None,
                query_chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of ``queries @ docs.T`` per query, best first: the kernel the index,
    evaluation and hard-negative mining share.

    queries (Q, d), docs (N, d) float32 -> scores (Q, k') float32 and doc rows (Q, k') int64, with
    k' = min(k, N). ``exclude`` (Q,) int64: one doc row per query to leave out (-1: none), for
    MTEB's ignore-identical-ids; that query's row then ends with (-inf, -1) when it had to drop one.
    """
    queries = np.asarray(queries, dtype=np.float32)
    docs = np.asarray(docs, dtype=np.float32)
    k = min(k, docs.shape[0])
    live = np.ones(docs.shape[0], dtype=bool)
    out_s = np.empty((queries.shape[0], k), np.float32)
    out_i = np.empty((queries.shape[0], k), np.int64)
    for a in range(0, queries.shape[0], query_chunk):
        qv = queries[a: a + query_chunk]
        if exclude is None:
            s, i = exact_top_rows(qv, [(0, docs, None, live)], k)
        else:  # one more candidate, then drop each query's excluded row
            s, i = exact_top_rows(qv, [(0, docs, None, live)], min(k + 1, docs.shape[0]))
            ex = np.asarray(exclude[a: a + query_chunk])[:, None]  # (c, 1)
            keep = i != ex
            s = np.stack([np.concatenate([r[m], np.full(len(r) - m.sum(), -np.inf, np.float32)])[:k]
                          for r, m in zip(s, keep)])
            i = np.stack([np.concatenate([r[m], np.full(len(r) - m.sum(), -1, np.int64)])[:k]
                          for r, m in zip(i, keep)])
        out_s[a: a + len(qv)], out_i[a: a + len(qv)] = s, i
    return out_s, out_i
