"""One exact top-k kernel: the index, evaluation and mining all rank with ``stores.exact.exact_top_k``."""

import numpy as np
import pytest

from q3embed.eval.search import exact_search
from q3embed.stores.exact import exact_top_k
from q3embed.train.mining import top_ranked


def _data(q=37, n=501, d=24, seed=0):
    rng = np.random.default_rng(seed)
    qv = rng.standard_normal((q, d)).astype(np.float32)
    dv = rng.standard_normal((n, d)).astype(np.float32)
    return qv, dv


@pytest.mark.parametrize("k", [1, 10, 501, 900])
def test_kernel_matches_a_full_sort(k):
    qv, dv = _data()
    scores, rows = exact_top_k(qv, dv, k, query_chunk=8)
    full = qv @ dv.T  # (Q, N): the plain reference
    ref = np.argsort(-full, axis=1, kind="stable")[:, : min(k, 501)]
    np.testing.assert_allclose(scores, np.take_along_axis(full, ref, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(full, rows, 1), scores, rtol=1e-5, atol=1e-5)  # rows carry them
    same = (rows == ref).mean()
    assert same > 0.999, same  # only rows whose scores tie to float rounding may swap places


def test_exclude_drops_one_row_per_query():
    qv, dv = _data()
    plain_s, plain_r = exact_top_k(qv, dv, 5)
    exclude = plain_r[:, 0].copy()
    exclude[::2] = -1
    s, r = exact_top_k(qv, dv, 5, exclude=exclude)
    np.testing.assert_array_equal(r[::2], plain_r[::2])
    ref = exact_top_k(qv, dv, 6)[1][1::2, 1:]
    np.testing.assert_array_equal(r[1::2], ref)


def test_eval_and_mining_rank_with_the_kernel():
    qv, dv = _data()
    qids = [f"q{i}" for i in range(len(qv))]
    dids = [f"d{i}" for i in range(len(dv))]
    qn = qv / np.linalg.norm(qv, axis=1, keepdims=True)
    dn = dv / np.linalg.norm(dv, axis=1, keepdims=True)
    run = exact_search(qv, dv, qids, dids, top_k=10)
    _, rows = exact_top_k(qn, dn, 10)
    assert all(list(run[q]) == [dids[c] for c in r] for q, r in zip(qids, rows.tolist()))
    np.testing.assert_array_equal(top_ranked(qv, dv, 10), exact_top_k(qv, dv, 10)[1])
    # MTEB's identical-id rule: d3 never ranks for q3
    run = exact_search(qv, dv, qids, [f"q{i}" for i in range(len(dv))], top_k=10, ignore_identical_ids=True)
    assert all(q not in docs and len(docs) == 10 for q, docs in run.items())
