"""LangChain adapters over q3embed's in-process Embedder and Reranker.

    >>> from q3embed import Embedder, Reranker
    >>> from q3embed.integrations.langchain import Q3Embeddings, Q3Reranker
    >>> embeddings = Q3Embeddings(Embedder.load("Qwen/Qwen3-Embedding-0.6B"))
    >>> embeddings.embed_query("what is q3embed?")          # the model's query instruction is applied
    >>> embeddings.embed_documents(["q3embed embeds text"])  # documents get none
    >>> reranker = Q3Reranker(reranker=Reranker.load("Qwen/Qwen3-Reranker-0.6B"), top_n=3)
    >>> reranker.compress_documents(docs, "what is q3embed?")  # best first, score in metadata
    >>> retriever = Q3Retriever(retriever=Retriever(embedder, Index.open("idx", embedder)), mode="hybrid")
    >>> retriever.invoke("what is q3embed?")               # Documents; metadata: id, score, stages
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

RERANK_SCORE_KEY = "relevance_score"  # the metadata key LangChain's own rerankers (Cohere, Jina) use


class Q3Embeddings(Embeddings):
    """``Embeddings`` over an ``Embedder``: queries get the instruction, documents none.

    ``query_instruction``: None takes the model's own (``Embedder.query_instruction``), as
    ``Embedder.encode_queries`` does. ``dim``: an MRL width below the model's, or None for all.
    """

    def __init__(self, embedder, query_instruction: str | None = None, dim: int | None = None,
                 batch_size: int = 32):
        self.embedder = embedder
        self.query_instruction = query_instruction
        self.dim = embedder.check_dim(dim) if dim is not None else None
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self.embedder.encode_documents(list(texts), dim=self.dim, batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode_queries([text], instruction=self.query_instruction, dim=self.dim,
                                            batch_size=self.batch_size)[0].tolist()


class Q3Reranker(BaseDocumentCompressor):
    """A document compressor that reorders documents by ``Reranker`` P(yes), best ``top_n`` kept.

    Each returned document is a copy whose metadata carries the score under ``relevance_score``.
    ``instruction``: the rerank task (None: the reranker's default).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any
    top_n: int | None = Field(default=3, ge=1)
    instruction: str | None = None

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        if not documents:
            return []
        ranked = self.reranker.rank(query, [d.page_content for d in documents], top_n=self.top_n,
                                    instruction=self.instruction)
        out = []
        for i, score in ranked:
            doc = documents[i]
            out.append(Document(page_content=doc.page_content, id=doc.id,
                                metadata={**doc.metadata, RERANK_SCORE_KEY: score}))
        return out


class Q3Retriever(BaseRetriever):
    """A LangChain retriever over a q3embed ``Retriever`` (an index or store, optionally a reranker).

    ``mode``: ``dense``, ``lexical`` or ``hybrid`` (BM25 and dense fused with RRF), as everywhere in
    q3embed; ``method``: how the dense stage searches. Each Document's metadata holds the stored
    metadata plus ``id``, ``score`` (the first stage's or the fused score), ``stages`` (which first
    stage found it) and, with a reranker, ``relevance_score``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    top_k: int = Field(default=4, ge=1)
    mode: str = "dense"
    method: str = "exact"
    rerank_top: int = Field(default=100, ge=1)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.retriever.search(query, top_k=self.top_k, rerank_top=self.rerank_top, mode=self.mode,
                                     method=self.method)
        out = []
        for h in hits:
            meta = {**(h.meta or {}), "id": h.id, "score": h.score, "stages": list(h.stages)}
            if h.rerank_score is not None:
                meta[RERANK_SCORE_KEY] = h.rerank_score
            out.append(Document(page_content=h.text, id=h.id, metadata=meta))
        return out
