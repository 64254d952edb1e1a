"""Two-stage evaluation with the tiny Qwen3 reranker."""

from __future__ import annotations

import pytest

from q3embed.eval import evaluate_rerank
from q3embed.eval.rerank import rerank_run


def test_rerank_end_to_end_with_tiny_models(tiny_embedder, tiny_reranker, toy_beir):
    res = evaluate_rerank(tiny_embedder, tiny_reranker, toy_beir)  # top 100 of a 5-document corpus
    assert res["task"] == "rerank" and res["num_queries"] == 3
    assert res["main_score"] == res["ndcg_at_10_after"] == res["ndcg_at_10"]
    assert res["ndcg_at_10_before"] == res["before"]["ndcg_at_10"]
    for key in ("ndcg_at_10_before", "ndcg_at_10_after"):
        assert 0.0 <= res[key] <= 1.0


def test_rerank_run_uses_reranker_scores(tiny_reranker):
    corpus = {"a": "Beijing is the capital of China.", "b": "Gravity pulls.", "c": "Paris is in France."}
    run = {"q": {"a": 0.1, "b": 0.9, "c": 0.5}}
    out = rerank_run(tiny_reranker, run, {"q": "capital of China"}, corpus)
    direct = tiny_reranker.score("capital of China", [corpus["a"], corpus["b"], corpus["c"]])
    assert [out["q"][d] for d in "abc"] == pytest.approx(direct.tolist())


def test_max_queries_limits_both_stages(tiny_embedder, tiny_reranker, toy_beir):
    res = evaluate_rerank(tiny_embedder, tiny_reranker, toy_beir, top_k=3, max_queries=1)
    assert res["num_queries"] == 1 and res["num_queries_skipped"] == 2
    assert res["main_metric"] == "ndcg_at_3" and "ndcg_at_3_before" in res  # no nDCG@10 from a top 3
