"""Retrieval end to end on small data, exact search, and the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.eval import evaluate_retrieval
from q3embed.eval.beir import load_beir
from q3embed.eval.metrics import retrieval_metrics
from q3embed.eval.search import exact_search


class CountingEmbedder:
    """Wraps an Embedder and counts the texts it embeds (the cache should spare it work)."""

    def __init__(self, inner):
        self.inner, self.seen = inner, 0
        self.layout, self.name, self.width = inner.layout, inner.name, inner.width
        self.max_length, self.dtype = inner.max_length, inner.dtype

    def encode(self, texts, **kw):
        self.seen += len(texts)
        return self.inner.encode(texts, **kw)

    def encode_queries(self, texts, **kw):
        self.seen += len(texts)
        return self.inner.encode_queries(texts, **kw)


def test_exact_search_orders_and_drops_identical_ids():
    docs = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    queries = np.array([[1, 0.1]], dtype=np.float32)
    run = exact_search(queries, docs, ["a"], ["a", "b", "c"], top_k=2)
    assert list(run["a"]) and set(run["a"]) == {"a", "b"}
    run = exact_search(queries, docs, ["a"], ["a", "b", "c"], top_k=2, ignore_identical_ids=True)
    assert set(run["a"]) == {"b", "c"}


def test_minilm_on_scifact_subset_matches_a_direct_computation(minilm_embedder, scifact_mini, tmp_path):
    counting = CountingEmbedder(minilm_embedder)
    res = evaluate_retrieval(counting, scifact_mini, cache_dir=tmp_path / "cache", top_k=10, return_run=True)
    corpus, queries, qrels = load_beir(scifact_mini)
    assert counting.seen == len(corpus) + len(queries)
    assert res["num_queries"] == 12 and res["num_documents"] == len(corpus)
    assert res["main_score"] == res["ndcg_at_10"] and res["main_metric"] == "ndcg_at_10"
    assert 0.5 < res["main_score"] <= 1.0  # MiniLM finds SciFact evidence among 40 abstracts
    assert all(len(docs) == 10 for docs in res["run"].values())

    # the same number from a plain computation: encode, cosine, metrics
    d_ids, q_ids = list(corpus), list(queries)
    d = minilm_embedder.encode([corpus[i] for i in d_ids])
    q = minilm_embedder.encode([queries[i] for i in q_ids])
    scores = q @ d.T
    run = {qid: {d_ids[j]: float(scores[i, j]) for j in np.argsort(-scores[i])[:10]} for i, qid in enumerate(q_ids)}
    assert res["ndcg_at_10"] == pytest.approx(retrieval_metrics(run, qrels, (10,))["ndcg_at_10"], abs=1e-6)

    # second run: everything comes from the cache
    again = evaluate_retrieval(counting, scifact_mini, cache_dir=tmp_path / "cache", top_k=10)
    assert counting.seen == len(corpus) + len(queries)
    assert again["ndcg_at_10"] == pytest.approx(res["ndcg_at_10"], abs=1e-9)


def test_dim_and_bad_top_k(tiny_embedder, toy_beir):
    res = evaluate_retrieval(tiny_embedder, toy_beir, dim=32, top_k=3)
    assert res["dim"] == 32 and "ndcg_at_3" in res and "ndcg_at_100" not in res
    with pytest.raises(ValueError, match="top_k"):
        evaluate_retrieval(tiny_embedder, toy_beir, top_k=0)
