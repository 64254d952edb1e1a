"""Two-stage retrieval: dense, lexical or hybrid recall from the index, then the reranker orders them."""

from __future__ import annotations

from collections.abc import Sequence

from .fusion import FusionConfig, check_mode
from .hits import Hit
from .protocol import VectorStore


class Retriever:
    """``Retriever(embedder, index, reranker=None).search(query, top_k=10, rerank_top=100)``.

    Without a reranker, hits are the index's top ``top_k``. With one, the index returns
    ``max(rerank_top, top_k)`` candidates, the reranker scores each (query, chunk text) pair,
    and the ``top_k`` best by ``rerank_score`` come back; ``score`` keeps the first-stage value.
    ``index`` is any ``VectorStore`` (embedded ``Index``, ``QdrantStore``, ``PgVectorStore``); it
    checks the embedder is the model it was built with before any search.
    """

    def __init__(self, embedder, index: VectorStore, reranker=None, instruction: str | None = None,
                 rerank_instruction: str | None = None):
        index.check_embedder(embedder)
        self.embedder = embedder
        self.index = index
        self.reranker = reranker
        self.instruction = instruction if instruction is not None else index.spec.instruction
        self.rerank_instruction = rerank_instruction

    @property
    def store(self) -> VectorStore:
        return self.index

    def search(self, query: str | Sequence[str], top_k: int = 10, rerank_top: int = 100, mode: str = "dense",
               method: str = "exact", where: dict | None = None, tuning=None,
               fusion: FusionConfig | None = None) -> list[Hit] | list[list[Hit]]:
        """Hits for one query (str) or a list of hit lists for several.

        ``mode``: ``dense``, ``lexical`` or ``hybrid`` (see ``VectorStore.search``); ``method``: how the
        dense stage searches. With a reranker, it reorders the first ``rerank_top`` hits of whichever
        list the mode gives (the fused list for hybrid)."""
        from ..data.media import MediaInput

        single = isinstance(query, (str, MediaInput))
        queries = [query] if single else list(query)
        check_mode(mode)
        if any(not isinstance(q, str) for q in queries) and mode != "dense":  # an image has no words to match
            raise ValueError(f"an image query searches dense vectors only; got mode {mode!r}")
        depth = max(rerank_top, top_k) if self.reranker is not None else top_k
        if mode == "lexical":
            results = self.index.search(queries, top_k=depth, mode=mode, where=where)
        else:
            vectors = self.embedder.encode_queries(queries, instruction=self.instruction, dim=self.index.spec.dim)
            texts = [q if isinstance(q, str) else (q.text or "") for q in queries]
            results = self.index.search(vectors, top_k=depth, mode=mode, method=method, where=where, tuning=tuning,
                                        texts=texts, fusion=fusion)  # list per query
        if self.reranker is not None:
            results = [self._rerank(q, hits, top_k) for q, hits in zip(queries, results)]
        return results[0] if single else results

    def _rerank(self, query, hits: list[Hit], top_k: int) -> list[Hit]:
        if not hits:
            return hits
        if getattr(self.reranker, "is_vl", False):  # images and PDF pages are reranked as what they show
            from ..data.pages import document_input

            documents = [document_input(h.meta, h.text) for h in hits]
        else:
            documents = [h.text for h in hits]
        scores = self.reranker.score(query, documents, instruction=self.rerank_instruction)
        for h, s in zip(hits, scores.tolist()):
            h.rerank_score = float(s)
        return sorted(hits, key=lambda h: -h.rerank_score)[:top_k]
