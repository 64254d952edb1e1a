"""Binary vectors: one sign bit per dimension for the first pass, then rescoring with the stored vectors.

A document keeps ``bits = (x[:binary_dim] > 0)`` packed 8 per byte (``binary_dim / 8`` bytes: 1/32 of
its float32 prefix). A query is packed the same way; the first pass ranks every row by Hamming
distance (popcount of XOR), which for sign vectors orders rows like the angle between the two
sign patterns. The best ``ceil(oversample * m)`` rows are then rescored by the exact inner product
with the stored (float32, float16 or int8) vectors at the index's full dim, read from the
memory-mapped segment files: only the candidates' rows are touched, so the full vectors can stay
on disk.

``binary_dim`` may be smaller than the index dim (MRL): the sign bits of the first 256 dims find the
candidates, the full 1024-dim vectors order them. Both are chosen at build time.

The oversampling default, 4, is the rescore multiplier of the sentence-transformers quantization
guide (Shakir & Aarsen, "Binary and Scalar Embedding Quantization", 2024); on SciFact's train
queries with all-MiniLM-L6-v2 it keeps 99.4% of exact nDCG@10 (docs/search.md has the sweep).

Kernel: faiss ``IndexBinaryFlat`` (SIMD popcount, 12x numpy's ``bitwise_count`` at 100K x 384 bits
on one thread: ``python -m bench.search_latency --kernels``) when faiss is installed, else numpy ``bitwise_count`` on uint64 words; both are checked
against ``hamming_reference``. Ties in Hamming distance are broken by row number in the numpy path;
faiss may break them otherwise, which is why stores agree on the rescored top-k only up to the
tolerance ``docs/search.md`` states.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BinaryConfig:
    oversample: float = 4.0  # rows rescored per result row: candidates = ceil(oversample * m)
    rescore: bool = True  # False: rank by Hamming distance alone (score = 1 - 2 * hamming / bits)

    def __post_init__(self) -> None:
        if not self.oversample >= 1:
            raise ValueError(f"binary oversample must be >= 1, got {self.oversample}")

    def candidates(self, m: int) -> int:
        return max(m, math.ceil(self.oversample * m))


def check_binary_dim(binary_dim: int, dim: int) -> int:
    """0 (no binary first pass) or 8..dim; bits are packed in whole bytes, so a multiple of 8."""
    binary_dim = int(binary_dim)
    if binary_dim and not (8 <= binary_dim <= dim and binary_dim % 8 == 0):
        raise ValueError(f"binary dim must be 0 (off) or a multiple of 8 from 8 to the index dim {dim}, "
                         f"got {binary_dim}")
    return binary_dim


def pack_signs(vectors: np.ndarray, binary_dim: int) -> np.ndarray:
    """(n, d) float -> (n, binary_dim / 8) uint8: bit set where the component is > 0 (pgvector's
    ``binary_quantize`` rule), most significant bit first (PostgreSQL's ``bit`` order)."""
    return np.packbits(np.asarray(vectors)[:, :binary_dim] > 0, axis=1)


def hamming_reference(q_bits: np.ndarray, d_bits: np.ndarray) -> np.ndarray:
    """Plain Hamming distances (Q, n) from unpacked bits: the kernel's parity reference."""
    q = np.unpackbits(q_bits, axis=1).astype(np.int32)  # (Q, bits)
    d = np.unpackbits(d_bits, axis=1).astype(np.int32)  # (n, bits)
    return (q[:, None, :] != d[None, :, :]).sum(2)


def hamming_numpy(q_bits: np.ndarray, d_bits: np.ndarray) -> np.ndarray:
    """Hamming distances (Q, n) by popcount of XOR on uint64 words (numpy >= 2.0)."""
    words = -(-q_bits.shape[1] // 8)
    q64 = _as_words(q_bits, words)  # (Q, w)
    d64 = _as_words(d_bits, words)  # (n, w)
    out = np.empty((len(q64), len(d64)), np.int32)
    for i, v in enumerate(q64):  # one query at a time bounds the (n, w) XOR temporary
        out[i] = np.bitwise_count(d64 ^ v).sum(1, dtype=np.int32)
    return out


def _as_words(bits: np.ndarray, words: int) -> np.ndarray:
    bits = np.ascontiguousarray(bits, dtype=np.uint8)
    if bits.shape[1] != words * 8:  # zero padding XORs to zero: distances are unchanged
        bits = np.concatenate([bits, np.zeros((len(bits), words * 8 - bits.shape[1]), np.uint8)], 1)
    return bits.view(np.uint64)


class HammingSearcher:
    """The first pass over one segment's bits: faiss ``IndexBinaryFlat`` if installed, else numpy."""

    def __init__(self, bits: np.ndarray, use_faiss: bool | None = None):
        self.rows, self.nbytes = bits.shape
        self._faiss = None
        if use_faiss is not False:
            try:
                import faiss
            except ImportError:
                if use_faiss:
                    raise
            else:
                self._faiss = faiss.IndexBinaryFlat(self.nbytes * 8)
                self._faiss.add(np.ascontiguousarray(bits, dtype=np.uint8))  # faiss keeps its own copy
        self._bits = None if self._faiss is not None else np.ascontiguousarray(bits, dtype=np.uint8)

    def memory_bytes(self) -> int:
        return self.rows * self.nbytes

    def nearest(self, q_bits: np.ndarray, c: int, dead: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Smallest Hamming distances (Q, c') int32 and local rows (Q, c') int64, dead rows left out."""
        n_dead = 0 if dead is None else int(dead.sum())
        k = min(self.rows, c + n_dead)
        if k <= 0:
            return np.empty((len(q_bits), 0), np.int32), np.empty((len(q_bits), 0), np.int64)
        if self._faiss is not None:
            dist, rows = self._faiss.search(np.ascontiguousarray(q_bits, dtype=np.uint8), k)
            dist, rows = dist.astype(np.int32), rows.astype(np.int64)
        else:
            full = hamming_numpy(q_bits, self._bits)  # (Q, n)
            key = (full.astype(np.int64) << 40) | np.arange(self.rows, dtype=np.int64)  # ties: lower row first
            part = np.argpartition(key, k - 1, axis=1)[:, :k] if k < self.rows else \
                np.broadcast_to(np.arange(self.rows), key.shape)
            part = np.take_along_axis(part, np.argsort(np.take_along_axis(key, part, 1), axis=1), 1)
            dist, rows = np.take_along_axis(full, part, 1), np.ascontiguousarray(part, dtype=np.int64)
        if n_dead:
            keep = ~dead[rows]  # (Q, k)
            width = int(min(c, keep.sum(1).min()))
            dist = np.stack([d[m][:width] for d, m in zip(dist, keep)])
            rows = np.stack([r[m][:width] for r, m in zip(rows, keep)])
        return dist[:, :c], rows[:, :c]


def read_rows(stored: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``stored[rows]``, read with ``pread`` when ``stored`` is a memory-mapped file: a page fault on the
    mapping also maps its cached neighbours ("fault-around"), so 40 rows read through the map put
    about 16 pages each into the process's RSS; ``pread`` puts only the rows there."""
    if not isinstance(stored, np.memmap) or stored.filename is None or not stored.flags.c_contiguous:
        return np.asarray(stored[rows])
    row_bytes = stored.shape[1] * stored.itemsize
    out = np.empty((len(rows), stored.shape[1]), stored.dtype)  # (u, d)
    fd = os.open(stored.filename, os.O_RDONLY)
    try:
        for i, r in enumerate(np.asarray(rows).tolist()):
            out[i] = np.frombuffer(os.pread(fd, row_bytes, stored.offset + r * row_bytes), stored.dtype)
    finally:
        os.close(fd)
    return out


def hamming_score(dist: np.ndarray, bits: int) -> np.ndarray:
    """Hamming distance -> the cosine of the two sign vectors, in [-1, 1] (the no-rescore score)."""
    return (1.0 - 2.0 * dist / bits).astype(np.float32)


def binary_top_rows(queries: np.ndarray, parts, m: int, config: BinaryConfig, binary_dim: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Best ``m`` rows per query: Hamming first pass over every part, then (``config.rescore``) the
    exact inner product of the ``config.candidates(m)`` nearest with the stored vectors.

    queries: (Q, d) float32 at the index dim. parts: (first global row, HammingSearcher, stored (n, d)
    memory-mapped, scales (n,) or None, dead (n,) bool) per segment. Returns scores (Q, m') float32 and
    global rows (Q, m') int64, best first.
    """
    q_bits = pack_signs(queries, binary_dim)  # (Q, binary_dim / 8)
    c = config.candidates(m) if config.rescore else m
    parts = list(parts)
    dists, rows = [], []
    for first, searcher, _, _, dead in parts:
        d, r = searcher.nearest(q_bits, c, dead)  # (Q, c_s) each
        dists.append(d.astype(np.int64))
        rows.append(r + first)
    dist, cand = np.concatenate(dists, 1), np.concatenate(rows, 1)  # (Q, sum c_s)
    key = (dist << 40) | cand  # one order for every store: distance, then row number
    order = np.argsort(key, axis=1)[:, :c]
    dist, cand = np.take_along_axis(dist, order, 1), np.take_along_axis(cand, order, 1)  # (Q, c')
    if not config.rescore:
        return hamming_score(dist, binary_dim)[:, :m], cand[:, :m]
    # Read each candidate row once (the union over queries), in file order, from the memory-mapped vectors.
    wanted = np.unique(cand)  # (U,) sorted global rows
    full = np.empty((len(wanted), queries.shape[1]), np.float32)  # (U, d)
    for first, _, stored, scales, _ in parts:
        lo, hi = np.searchsorted(wanted, [first, first + len(stored)])
        local = wanted[lo:hi] - first
        block = read_rows(stored, local).astype(np.float32)  # (u, d): only these rows are read
        full[lo:hi] = block * scales[local][:, None] if scales is not None else block
    at = np.searchsorted(wanted, cand)  # (Q, c')
    scores = np.concatenate([np.einsum("qd,qcd->qc", queries[a: a + 64], full[at[a: a + 64]])  # 64 queries at a
                             for a in range(0, len(queries), 64)]).astype(np.float32)  # time bound the gather
    best = np.argsort(-scores, axis=1, kind="stable")[:, :m]
    return np.take_along_axis(scores, best, 1), np.take_along_axis(cand, best, 1)
