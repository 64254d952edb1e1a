"""Storage dtypes for index vectors: float32, float16, or int8 with one scale per vector.

int8 keeps ``round(x / s)`` with ``s = max|x| / 127`` per vector, so a score is
``(q . x_int8) * s``: the scale multiplies scores, never the stored matrix. A per-vector scale
needs no corpus statistics, so vectors added later quantise exactly as the first ones did.
"""

from __future__ import annotations

import numpy as np

STORAGE_DTYPES = ("float32", "float16", "int8")


def check_storage_dtype(dtype: str) -> str:
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    return dtype


def quantize(vectors: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(stored, scales): vectors (N, d) float32 -> stored (N, d) in ``dtype``; scales (N,) for int8 else None."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dtype == "float32":
        return vectors, None
    if dtype == "float16":
        return vectors.astype(np.float16), None
    if dtype == "int8":
        scales = np.abs(vectors).max(axis=1) / 127.0  # (N,)
        scales = np.where(scales > 0, scales, 1.0).astype(np.float32)
        stored = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)  # (N, d)
        return stored, scales
    raise ValueError(f"unknown storage dtype {dtype!r}")


def dequantize(stored: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """float32 (N, d) back from storage."""
    out = np.asarray(stored, dtype=np.float32)
    return out * scales[:, None] if scales is not None else out


def inner_products(queries: np.ndarray, stored: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """Scores (Q, N) of float32 queries (Q, d) against one stored block (N, d)."""
    block = np.asarray(stored, dtype=np.float32)  # (N, d): a copy for f16/int8, a view for f32
    scores = queries @ block.T  # (Q, N)
    return scores * scales[None, :] if scales is not None else scores
