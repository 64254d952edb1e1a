"""The published MTEB scores of all-MiniLM-L6-v2 (STSBenchmark 82.03, SciFact nDCG@10 64.51), reproduced
on the full data ($Q3EMBED_DATA or data/, see tests/eval_data.py).

Slow (SciFact embeds 5,183 abstracts): run with ``pytest tests/eval -m slow``.
"""

from __future__ import annotations

import pytest

from q3embed.eval import evaluate_retrieval, evaluate_sts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("eval_cache")


def test_stsbenchmark_is_82_03(minilm_embedder, stsb_test, cache_dir):
    res = evaluate_sts(minilm_embedder, stsb_test, cache_dir=cache_dir)
    assert res["num_pairs"] == 1379
    assert round(100 * res["main_score"], 2) == 82.03


def test_scifact_is_64_51(minilm_embedder, scifact_dir, cache_dir):
    res = evaluate_retrieval(minilm_embedder, scifact_dir, split="test", cache_dir=cache_dir)
    assert (res["num_queries"], res["num_documents"]) == (300, 5183)
    assert round(100 * res["ndcg_at_10"], 2) == 64.51


def test_mteb_scores_the_same_vectors_the_same(minilm_embedder, scifact_dir, stsb_test, cache_dir):
    """mteb's own evaluators, fed through the adapter (and the cache filled above), agree."""
    mteb = pytest.importorskip("mteb")
    from q3embed.eval.mteb_adapter import mteb_model
    from q3embed.eval.mteb_local import local_retrieval_task, local_sts_task

    model = mteb_model(minilm_embedder, cache_dir=cache_dir)
    result = mteb.evaluate(model, [local_retrieval_task(scifact_dir, name="SciFactLocal"),
                                   local_sts_task(stsb_test, name="STSBenchmarkLocal")],
                           cache=None, show_progress_bar=False)
    scores = {r.task_name: r.scores["test"][0] for r in result.task_results}
    assert round(100 * scores["SciFactLocal"]["ndcg_at_10"], 2) == 64.51
    assert round(100 * scores["STSBenchmarkLocal"]["cosine_spearman"], 2) == 82.03
