"""LlamaIndex adapters over q3embed's in-process Embedder and Reranker.

    >>> from llama_index.core import Settings, VectorStoreIndex
    >>> from q3embed import Embedder, Reranker
    >>> from q3embed.integrations.llama_index import Q3Embedding, Q3RerankPostprocessor
    >>> Settings.embed_model = Q3Embedding(Embedder.load("Qwen/Qwen3-Embedding-0.6B"))
    >>> engine = VectorStoreIndex.from_documents(docs).as_query_engine(
    ...     similarity_top_k=20, node_postprocessors=[Q3RerankPostprocessor(Reranker.load("Qwen/Qwen3-Reranker-0.6B"))])
    >>> nodes = Q3Retriever(Retriever(embedder, Index.open("idx", embedder)), mode="hybrid").retrieve("query")
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
from pydantic import Field, PrivateAttr


class Q3Embedding(BaseEmbedding):
    """``BaseEmbedding`` over an ``Embedder``: queries get the instruction, texts (documents) none.

    ``query_instruction``: None takes the model's own, as ``Embedder.encode_queries`` does.
    ``dim``: an MRL width below the model's, or None for all of it.
    """

    query_instruction: str | None = Field(default=None, description="None: the model's own query instruction")
    dim: int | None = Field(default=None, description="MRL output width; None: the model's width")
    _embedder: Any = PrivateAttr()

    def __init__(self, embedder, query_instruction: str | None = None, dim: int | None = None, **kwargs):
        super().__init__(model_name=kwargs.pop("model_name", embedder.name), query_instruction=query_instruction,
                         dim=embedder.check_dim(dim) if dim is not None else None, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "Q3Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.encode_queries([query], instruction=self.query_instruction, dim=self.dim)[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._embedder.encode_documents(list(texts), dim=self.dim,
                                               batch_size=self.embed_batch_size).tolist()


class Q3RerankPostprocessor(BaseNodePostprocessor):
    """Reorders retrieved nodes by ``Reranker`` P(yes) and keeps the best ``top_n``.

    Each node's ``score`` becomes the rerank score (what LlamaIndex's own rerankers do).
    ``instruction``: the rerank task (None: the reranker's default).
    """

    top_n: int | None = Field(default=3, ge=1)
    instruction: str | None = None
    _reranker: Any = PrivateAttr()

    def __init__(self, reranker, top_n: int | None = 3, instruction: str | None = None, **kwargs):
        super().__init__(top_n=top_n, instruction=instruction, **kwargs)
        self._reranker = reranker

    @classmethod
    def class_name(cls) -> str:
        return "Q3RerankPostprocessor"

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("Q3RerankPostprocessor needs the query: pass query_bundle (or query_str)")
        if not nodes:
            return []
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        ranked = self._reranker.rank(query_bundle.query_str, texts, top_n=self.top_n, instruction=self.instruction)
        return [NodeWithScore(node=nodes[i].node, score=score) for i, score in ranked]


class Q3Retriever(BaseRetriever):
    """A LlamaIndex retriever over a q3embed ``Retriever`` (an index or store, optionally a reranker).

    ``mode``: ``dense``, ``lexical`` or ``hybrid`` (BM25 and dense fused with RRF); ``method``: how the
    dense stage searches. Each node's score is the reranker's when there is one, else the first
    stage's (or the fused) score; its metadata adds ``stages`` (which first stage found it).
    """

    def __init__(self, retriever, top_k: int = 4, mode: str = "dense", method: str = "exact", rerank_top: int = 100,
                 **kwargs):
        super().__init__(**kwargs)
        self._q3 = retriever
        self.top_k, self.mode, self.method, self.rerank_top = top_k, mode, method, rerank_top

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._q3.search(query_bundle.query_str, top_k=self.top_k, rerank_top=self.rerank_top, mode=self.mode,
                               method=self.method)
        return [NodeWithScore(node=TextNode(text=h.text, id_=h.id,
                                            metadata={**(h.meta or {}), "stages": list(h.stages)}),
                              score=h.rerank_score if h.rerank_score is not None else h.score) for h in hits]
