"""The published number through pgvector: all-MiniLM-L6-v2 on SciFact test, exact search, nDCG@10 = 64.51."""

import pytest

from eval_data import full_data


@pytest.mark.slow  # embeds 5,183 documents with MiniLM: minutes on two cores
def test_minilm_scifact_ndcg_through_pgvector(pg_url, minilm_embedder):
    scifact = full_data("scifact")
    from q3embed.eval import evaluate_retrieval
    from q3embed.eval.beir import load_beir
    from q3embed.stores.open import build_store

    corpus, _, _ = load_beir(scifact, "test")
    store = build_store(pg_url, list(corpus.items()), minilm_embedder, batch_size=64, commit_every=1024)
    assert store.count() == 5183
    result = evaluate_retrieval(minilm_embedder, scifact, store=store, method="exact", top_k=100)
    assert round(100 * result["ndcg_at_10"], 2) == 64.51
    assert result["store"] == store.location
    store.close()
