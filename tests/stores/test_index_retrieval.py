import numpy as np
import pytest

from q3embed.stores import Index, IndexMismatchError, Retriever

DOCS = [("paris", "Paris is the capital of France."), ("berlin", "Berlin is the capital of Germany."),
        ("cells", "Mitochondria produce energy in cells."), ("rain", "Rain falls from clouds."),
        ("moon", "The Moon orbits the Earth."), ("bread", "Yeast makes bread dough rise.")]


@pytest.fixture
def tiny_index(tmp_path, tiny_embedder):
    return Index.build(tmp_path / "tiny", DOCS, tiny_embedder)


def test_retriever_without_reranker_is_index_search(tiny_index, tiny_embedder):
    r = Retriever(tiny_embedder, tiny_index)
    hits = r.search("capital of France", top_k=3)
    assert [h.id for h in hits] == [h.id for h in tiny_index.search("capital of France", top_k=3)]
    assert all(h.rerank_score is None for h in hits) and len(hits) == 3


def test_retrieve_then_rerank(tiny_index, tiny_embedder, tiny_reranker):
    r = Retriever(tiny_embedder, tiny_index, tiny_reranker)
    hits = r.search("capital of France", top_k=3, rerank_top=5)
    first_stage = {h.id: h.score for h in tiny_index.search("capital of France", top_k=5)}
    assert len(hits) == 3 and {h.id for h in hits} <= set(first_stage)
    want = tiny_reranker.score("capital of France", [h.text for h in hits])
    np.testing.assert_allclose([h.rerank_score for h in hits], want, rtol=1e-5)
    assert [h.rerank_score for h in hits] == sorted((h.rerank_score for h in hits), reverse=True)
    for h in hits:  # the first-stage score travels with the hit
        assert h.score == pytest.approx(first_stage[h.id], abs=1e-6)
    # the best reranked hit is the best of all five candidates, not only of the first stage's top 3
    all5 = tiny_reranker.score("capital of France", [tiny_index.chunks(i)[0]["text"] for i in first_stage])
    assert hits[0].rerank_score == pytest.approx(float(all5.max()), rel=1e-5)


def test_retriever_several_queries_and_dict_output(tiny_index, tiny_embedder):
    out = Retriever(tiny_embedder, tiny_index).search(["rain", "moon"], top_k=2)
    assert len(out) == 2 and all(len(h) == 2 for h in out)
    d = out[0][0].to_dict()
    assert {"id", "score", "text", "chunk", "start", "end"} <= set(d) and "rerank_score" not in d


def test_retriever_refuses_another_model(tiny_index, hash_embedder_cls):
    with pytest.raises(IndexMismatchError, match="was built with model"):
        Retriever(hash_embedder_cls(width=tiny_index.spec.width), tiny_index)


def test_minilm_mrl_dim_index(tmp_path, minilm_embedder):
    idx = Index.build(tmp_path / "m", DOCS, minilm_embedder, dim=128)
    hits = Retriever(minilm_embedder, idx).search("What is the capital of Germany?", top_k=2)
    assert hits[0].id == "berlin"
    assert idx.vectors()[1].shape == (6, 128)
