"""``mode``: which first stage(s) a search runs (dense, lexical or hybrid), the same for every store.

A store supplies two first stages and ``run_search`` does the rest (query embedding, depths,
fusion, labels), so the three stores cannot drift apart:

- ``_dense_hits(qv (Q, dim), top_k, method, where, tuning) -> list[list[Hit]]``: today's vector
  search; ``method`` is how (``exact``, ``hnsw``, ...; see the store's ``search_methods``).
- ``_lexical_hits(texts, top_k, where) -> list[list[Hit]]``: BM25 over the same chunks, each
  document scored by its best chunk.
- optionally ``_hybrid_hits(texts, qv, top_k, method, where, tuning, fusion)``, when the database
  fuses in one query itself (Qdrant's prefetch + RRF).
"""

from __future__ import annotations

from .fusion import FusionConfig, check_mode, fuse, label
from .spec import query_matrix


def run_search(store, queries, top_k: int, mode: str, method: str, instruction: str | None, where: dict | None,
               tuning, texts, fusion: FusionConfig | None):
    """One list of hits for one query (str or (dim,) vector), a list of lists for several."""
    check_mode(mode)
    if method not in store.search_methods:
        raise ValueError(f"search method must be one of {', '.join(store.search_methods)} for {store.location}, "
                         f"got {method!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    single, texts = _query_texts(queries, texts)
    if mode != "dense" and texts is None:
        raise ValueError(f"search mode {mode!r} needs the query text: pass text queries, or texts= beside the vectors")
    if mode == "lexical":
        out = [label(h, "lexical") for h in store._lexical_hits(texts, top_k, where)]
        return out[0] if single else out
    qsingle, qv = query_matrix(queries, store.spec, store.location,
                               lambda t: store.encode_queries(t, instruction))
    single = single if texts is not None else qsingle
    if texts is not None and len(texts) != len(qv):
        raise ValueError(f"got {len(texts)} query texts for {len(qv)} query vectors; give one text per vector")
    if mode == "dense":
        out = [label(h, "dense") for h in store._dense_hits(qv, top_k, method, where, tuning)]
    else:
        fusion = fusion or FusionConfig()
        native = getattr(store, "_hybrid_hits", None)
        if native is not None and fusion.method == "rrf":
            out = native(texts, qv, top_k, method, where, tuning, fusion)
        else:
            depth = fusion.stage_depth(top_k)
            dense = store._dense_hits(qv, depth, method, where, tuning)
            lexical = store._lexical_hits(texts, depth, where)
            out = [fuse(d, x, top_k, fusion) for d, x in zip(dense, lexical)]
    return out[0] if single else out


def _query_texts(queries, texts) -> tuple[bool, list[str] | None]:
    """(single, query texts or None) from text queries, or from ``texts`` given beside vectors."""
    if isinstance(queries, str):
        return True, [queries]
    if isinstance(queries, (list, tuple)) and queries and isinstance(queries[0], str):
        return False, list(queries)
    if texts is None:
        return False, None
    if isinstance(texts, str):
        return True, [texts]
    return False, list(texts)
