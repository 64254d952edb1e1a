"""Exact cosine search over a whole corpus, through the index's exact top-k kernel (``stores.exact``)."""

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
    from ..stores.exact import exact_top_k

    q = l2_normalize(np.asarray(query_vecs, dtype=np.float32))  # (Q, d)
    d = l2_normalize(np.asarray(doc_vecs, dtype=np.float32))  # (N, d)
    exclude = None
    if ignore_identical_ids:
        doc_index = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        exclude = np.array([doc_index.get(qid, -1) for qid in query_ids], dtype=np.int64)
    scores, rows = exact_top_k(q, d, top_k, exclude=exclude, query_chunk=chunk)  # (Q, k) each, best first
    return {qid: {doc_ids[c]: float(sc) for sc, c in zip(s_row, r_row) if c >= 0 and np.isfinite(sc)}
            for qid, s_row, r_row in zip(query_ids, scores.tolist(), rows.tolist())}
