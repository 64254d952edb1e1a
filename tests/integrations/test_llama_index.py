"""LlamaIndex adapters (real llama-index-core) equal the engine they wrap."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

from q3embed.integrations.llama_index import Q3Embedding, Q3RerankPostprocessor  # noqa: E402

TEXTS = ["Beijing is the capital of China.", "Gravity pulls apples down.", "Pandas eat bamboo."]


def test_embedding_keeps_query_and_document_handling(tiny_embedder):
    emb = Q3Embedding(tiny_embedder, embed_batch_size=2)
    np.testing.assert_allclose(emb.get_text_embedding_batch(TEXTS), tiny_embedder.encode_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(emb.get_text_embedding(TEXTS[0]), tiny_embedder.encode_documents(TEXTS[0]), atol=1e-6)
    np.testing.assert_allclose(emb.get_query_embedding("capital of China"),
                               tiny_embedder.encode_queries("capital of China"), atol=1e-6)
    assert not np.allclose(emb.get_query_embedding("capital of China"), tiny_embedder.encode("capital of China"),
                           atol=1e-4)
    own = Q3Embedding(tiny_embedder, query_instruction="Find code", dim=32)
    np.testing.assert_allclose(own.get_query_embedding("sort a list"),
                               tiny_embedder.encode("sort a list", instruction="Find code", dim=32), atol=1e-6)


def test_embedding_builds_a_vector_index(tiny_embedder):
    from llama_index.core import VectorStoreIndex

    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex(nodes, embed_model=Q3Embedding(tiny_embedder))
    got = index.as_retriever(similarity_top_k=3).retrieve("capital of China")
    q = tiny_embedder.encode_queries("capital of China")
    scores = tiny_embedder.encode_documents(TEXTS) @ q
    assert [n.node.node_id for n in got] == [f"n{i}" for i in np.argsort(-scores, kind="stable")]
    assert [n.score for n in got] == pytest.approx(sorted(scores.tolist(), reverse=True), abs=1e-5)


def test_rerank_postprocessor_orders_by_the_engine(tiny_reranker):
    nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.0) for i, t in enumerate(TEXTS)]
    out = Q3RerankPostprocessor(tiny_reranker, top_n=2).postprocess_nodes(
        nodes, query_bundle=QueryBundle("capital of China"))
    expected = tiny_reranker.rank("capital of China", TEXTS, top_n=2)
    assert [n.node.node_id for n in out] == [f"n{i}" for i, _ in expected]
    assert [n.score for n in out] == pytest.approx([s for _, s in expected], abs=1e-6)
    with pytest.raises(ValueError, match="query"):
        Q3RerankPostprocessor(tiny_reranker).postprocess_nodes(nodes)


def test_retriever_takes_the_search_mode(tiny_embedder, tmp_path):
    from q3embed import Index, Retriever
    from q3embed.integrations.llama_index import Q3Retriever

    texts = ["Beijing is the capital of China.", "Gravity pulls apples down.", "Pandas eat bamboo."]
    index = Index.build(tmp_path / "idx", [(f"t{i}", t) for i, t in enumerate(texts)], tiny_embedder)
    inner = Retriever(tiny_embedder, index)
    for mode in ("dense", "lexical", "hybrid"):
        nodes = Q3Retriever(inner, top_k=3, mode=mode).retrieve("capital of China")
        want = inner.search("capital of China", top_k=3, mode=mode)
        assert [n.node.node_id for n in nodes] == [h.id for h in want] and nodes, mode
        assert [n.score for n in nodes] == [h.score for h in want]
        assert [n.node.metadata["stages"] for n in nodes] == [h.stages for h in want]
