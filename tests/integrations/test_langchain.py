"""LangChain adapters (real langchain-core) equal the engine they wrap."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402

from q3embed.integrations.langchain import Q3Embeddings, Q3Reranker  # noqa: E402

TEXTS = ["Beijing is the capital of China.", "Gravity pulls apples down.", "Pandas eat bamboo."]


def test_embeddings_keep_query_and_document_handling(tiny_embedder):
    emb = Q3Embeddings(tiny_embedder)
    np.testing.assert_allclose(emb.embed_documents(TEXTS), tiny_embedder.encode_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(emb.embed_query("capital of China"), tiny_embedder.encode_queries("capital of China"),
                               atol=1e-6)
    # the query instruction is really applied: a bare encode of the query differs
    assert not np.allclose(emb.embed_query("capital of China"), tiny_embedder.encode("capital of China"), atol=1e-4)
    own = Q3Embeddings(tiny_embedder, query_instruction="Find code", dim=32)
    np.testing.assert_allclose(own.embed_query("sort a list"),
                               tiny_embedder.encode("sort a list", instruction="Find code", dim=32), atol=1e-6)
    assert emb.embed_documents([]) == []


def test_embeddings_through_an_in_memory_vector_store(tiny_embedder):
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore.from_texts(TEXTS, Q3Embeddings(tiny_embedder))
    hits = store.similarity_search_with_score("capital of China", k=3)
    q = tiny_embedder.encode_queries("capital of China")
    expected = sorted(TEXTS, key=lambda t: -float(tiny_embedder.encode_documents(t) @ q))
    assert [d.page_content for d, _ in hits] == expected


def test_reranker_orders_by_the_engine_and_keeps_metadata(tiny_reranker):
    docs = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS)]
    out = Q3Reranker(reranker=tiny_reranker, top_n=2).compress_documents(docs, "capital of China")
    expected = tiny_reranker.rank("capital of China", TEXTS, top_n=2)
    assert [d.metadata["n"] for d in out] == [i for i, _ in expected]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([s for _, s in expected], abs=1e-6)
    assert "relevance_score" not in docs[0].metadata  # inputs are not modified
    task = "Judge whether the document names a city"
    out = Q3Reranker(reranker=tiny_reranker, top_n=None, instruction=task).compress_documents(docs, "Beijing")
    scores = tiny_reranker.score("Beijing", TEXTS, instruction=task)
    assert sorted(d.metadata["relevance_score"] for d in out) == pytest.approx(sorted(scores.tolist()), abs=1e-6)
    assert Q3Reranker(reranker=tiny_reranker).compress_documents([], "q") == []


def test_retriever_takes_the_search_mode(tiny_embedder, tmp_path):
    from q3embed import Index, Retriever
    from q3embed.integrations.langchain import Q3Retriever

    index = Index.build(tmp_path / "idx", [(f"t{i}", t) for i, t in enumerate(TEXTS)], tiny_embedder)
    inner = Retriever(tiny_embedder, index)
    for mode in ("dense", "lexical", "hybrid"):
        docs = Q3Retriever(retriever=inner, top_k=3, mode=mode).invoke("capital of China")
        want = inner.search("capital of China", top_k=3, mode=mode)
        assert [d.id for d in docs] == [h.id for h in want] and docs, mode
        assert [d.metadata["stages"] for d in docs] == [h.stages for h in want]
    assert Q3Retriever(retriever=inner, mode="lexical").invoke("bamboo")[0].metadata["stages"] == ["lexical"]
