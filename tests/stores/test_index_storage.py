import numpy as np
import pytest

from q3embed.stores.exact import exact_top_rows, top_m
from q3embed.stores.storage import dequantize, inner_products, quantize


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype,tol", [("float32", 0.0), ("float16", 1e-3), ("int8", 1e-2)])
def test_roundtrip_error_is_bounded(dtype, tol):
    x = _unit(np.random.default_rng(0), 200, 48)
    stored, scales = quantize(x, dtype)
    assert stored.dtype == np.dtype(dtype)
    assert (scales is not None) == (dtype == "int8")
    assert np.abs(dequantize(stored, scales) - x).max() <= tol


def test_int8_scores_equal_dequantised_scores():
    rng = np.random.default_rng(1)
    x, q = _unit(rng, 50, 32), _unit(rng, 3, 32)
    stored, scales = quantize(x, "int8")
    np.testing.assert_allclose(inner_products(q, stored, scales), q @ dequantize(stored, scales).T, rtol=1e-5, atol=1e-6)


def test_int8_recall_against_float32():
    """Clustered unit vectors (like real embeddings): int8 storage keeps recall@10 high."""
    rng = np.random.default_rng(2)
    centers = _unit(rng, 20, 128)
    x = centers[rng.integers(0, 20, 3000)] + 0.35 * _unit(rng, 3000, 128)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(3000, 100, replace=False)] + 0.2 * _unit(rng, 100, 128)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    for dtype, floor in (("float16", 0.99), ("int8", 0.95)):
        stored, scales = quantize(x, dtype)
        approx = np.argsort(-inner_products(q, stored, scales), axis=1)[:, :10]
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
        assert recall >= floor, (dtype, recall)


def test_top_m_sorts_best_first():
    s = np.array([[0.1, 0.9, 0.5, 0.7]], np.float32)
    ids = np.array([[10, 11, 12, 13]])
    out_s, out_i = top_m(s, ids, 3)
    assert out_i.tolist() == [[11, 13, 12]]
    np.testing.assert_allclose(out_s, [[0.9, 0.7, 0.5]])


def test_blocked_exact_search_matches_brute_force(monkeypatch):
    import q3embed.stores.exact as exact

    monkeypatch.setattr(exact, "BLOCK_ROWS", 7)  # force many blocks and merges
    rng = np.random.default_rng(3)
    x, q = _unit(rng, 50, 16), _unit(rng, 4, 16)
    live = rng.random(50) > 0.3
    blocks = [(0, x[:20], None, live[:20]), (20, x[20:], None, live[20:])]
    scores, rows = exact_top_rows(q, blocks, 5)
    full = q @ x.T
    full[:, ~live] = -np.inf
    want = np.argsort(-full, axis=1)[:, :5]
    assert rows.tolist() == want.tolist()
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, 1), rtol=1e-6)
    # fewer live rows than asked for: only live rows come back
    scores, rows = exact_top_rows(q, blocks, 49)
    assert rows.shape == (4, live.sum()) and set(rows[0].tolist()) == set(np.flatnonzero(live).tolist())
