"""Exact cosine search over a whole corpus, in query chunks so memory stays bounded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.vectors import l2_normalize


def exact_search(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    top_k: int = 100,
    ignore_identical_ids: bool = False,
    chunk: int = 256,
) -> dict[str, dict[str, float]]:
    """The ``top_k`` documents by cosine for each query: {query id: {doc id: score}}.

    ``ignore_identical_ids`` drops a document whose id equals the query id (MTEB does this for
    datasets such as ArguAna where each query is also in the corpus).
    """
    if query_vecs.shape[1] != doc_vecs.shape[1]:
        raise ValueError(f"query vectors have dim {query_vecs.shape[1]}, documents {doc_vecs.shape[1]}")
    q = l2_normalize(np.asarray(query_vecs, dtype=np.float32))  # (Q, d)
    d = l2_normalize(np.asarray(doc_vecs, dtype=np.float32))  # (N, d)
    k = min(top_k, len(doc_ids))
    doc_index = {doc_id: i for i, doc_id in enumerate(doc_ids)} if ignore_identical_ids else {}
    run: dict[str, dict[str, float]] = {}
    for start in range(0, len(q), chunk):
        scores = q[start: start + chunk] @ d.T  # (c, N)
        if ignore_identical_ids:
            for row, qid in enumerate(query_ids[start: start + chunk]):
                if qid in doc_index:
                    scores[row, doc_index[qid]] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.argsort(-scores, axis=1)
        for row, cols in enumerate(top):
            qid = query_ids[start + row]
            run[qid] = {doc_ids[c]: float(scores[row, c]) for c in cols if np.isfinite(scores[row, c])}
    return run
