"""The published number, through the index: all-MiniLM-L6-v2 on SciFact test, exact search, nDCG@10 = 64.51."""

import pytest

from eval_data import full_data


@pytest.mark.slow
def test_minilm_scifact_ndcg_through_the_index(tmp_path, minilm_embedder):
    scifact = full_data("scifact")
    from q3embed.eval.beir import load_beir
    from q3embed.eval.metrics import retrieval_metrics
    from q3embed.stores import Index, Retriever

    corpus, queries, qrels = load_beir(scifact, "test")
    index = Index.build(tmp_path / "scifact", list(corpus.items()), minilm_embedder)
    assert len(index) == 5183
    qids = list(queries)
    hits = Retriever(minilm_embedder, index).search([queries[q] for q in qids], top_k=10)
    run = {q: {h.id: h.score for h in hs} for q, hs in zip(qids, hits)}
    ndcg = 100 * retrieval_metrics(run, qrels, k_values=(10,))["ndcg_at_10"]
    assert round(ndcg, 2) == 64.51
