"""Fast engine paths (packed forward, shared reranker prefix, bf16) against the plain reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from q3embed.engine.reference import cosine, reference_embed, reference_rerank

TASK = "Given a web search query, retrieve relevant passages that answer the query"
TEXTS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. " * 6,
    "",
    "短い文書。中文也可以。",
    "a",
    "rivers and mountains " * 40,
]
QUERIES = ["What is the capital of China?", "Explain gravity", "rivers"]


@pytest.fixture(scope="module")
def padded_embedder(tiny_embedding_dir):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")
    emb.use_packing = False
    return emb


def test_packed_embedding_matches_reference(tiny_embedding_dir, tiny_embedder):
    assert tiny_embedder._fast_forward() is not None  # the Qwen3 fixture takes the packed path
    rows = tiny_embedder.tokenize(QUERIES, TASK) + tiny_embedder.tokenize(TEXTS)
    ref = reference_embed(tiny_embedding_dir, rows)
    ours = np.concatenate([tiny_embedder.encode(QUERIES, instruction=TASK, batch_size=2), tiny_embedder.encode(TEXTS)])
    assert ours.dtype == np.float32
    c = cosine(ours, ref)
    assert c.min() >= 0.99999, c


def test_packed_equals_padded_path(tiny_embedder, padded_embedder):
    a = tiny_embedder.encode(TEXTS, dim=48)
    b = padded_embedder.encode(TEXTS, dim=48)
    assert cosine(a, b).min() >= 0.99999


def test_packed_batch_boundaries_do_not_matter(tiny_embedder):
    together = tiny_embedder.encode(TEXTS, batch_size=len(TEXTS), max_batch_tokens=None)
    split = tiny_embedder.encode(TEXTS, batch_size=1)
    tight = tiny_embedder.encode(TEXTS, batch_size=64, max_batch_tokens=128)
    assert cosine(together, split).min() >= 0.99999
    assert cosine(together, tight).min() >= 0.99999


def test_swapped_model_falls_back_to_padded_path(tiny_embedding_dir):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")
    assert emb._fast_forward() is not None
    emb.model = torch.nn.Identity()  # not a Qwen3 backbone: no packed forward for it
    assert emb._fast_forward() is None


def test_bf16_embedding_close_to_fp32_reference(tiny_embedding_dir, tiny_embedder):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="bfloat16")
    rows = emb.tokenize(TEXTS)
    ref = reference_embed(tiny_embedding_dir, rows)
    c = cosine(emb.encode(TEXTS), ref)
    assert c.min() >= 0.999, c  # bf16 keeps 8 mantissa bits: cosine 0.999 to the fp32 reference is its tolerance


def _pairs():
    docs = TEXTS + ["Beijing is in China.", "The capital of China is Beijing."]  # a duplicate document too
    pairs = [(q, d) for q in QUERIES for d in docs]
    return pairs + [("a query alone", "with one document")]  # a query with no prefix to share


def test_shared_prefix_rerank_matches_reference(tiny_reranker_dir, tiny_reranker):
    assert tiny_reranker._fast_forward() is not None
    pairs = _pairs()
    rows = tiny_reranker._tok(pairs, TASK)
    ref = reference_rerank(tiny_reranker_dir, rows).numpy()
    ours = tiny_reranker.score_pairs(pairs, batch_size=4)  # batches hold one query each
    assert ours.dtype == np.float32 and ours.shape == (len(pairs),)
    assert np.abs(ours - ref).max() <= 1e-5, np.abs(ours - ref).max()
    mixed = tiny_reranker.score_pairs(pairs, batch_size=16)  # batches mix queries: only the prompt is shared
    assert np.abs(mixed - ref).max() <= 1e-5
    one_query = tiny_reranker.score_pairs(pairs[: len(TEXTS) + 2], batch_size=64)  # the query is shared too
    assert np.abs(one_query - ref[: len(TEXTS) + 2]).max() <= 1e-5
    # the same top-10 ordering for one query's documents
    n = len(TEXTS) + 2
    assert list(np.argsort(-ours[:n], kind="stable")[:10]) == list(np.argsort(-ref[:n], kind="stable")[:10])


def test_shared_prefix_is_used(tiny_reranker, monkeypatch):
    fast = tiny_reranker._fast_forward()
    seen = []
    orig = fast.prefix_cache
    monkeypatch.setattr(fast, "prefix_cache", lambda p: seen.append(len(p[0])) or orig(p))
    tiny_reranker.score("What is the capital of China?", ["Beijing.", "Paris is in France.", "x y z"])
    assert len(seen) == 1 and seen[0] > 60  # system prompt + instruction + query, computed once


def test_shared_prefix_computed_once_per_query_across_batches(tiny_reranker_dir, tiny_reranker, monkeypatch):
    fast = tiny_reranker._fast_forward()
    seen = []
    orig = fast.prefix_cache
    monkeypatch.setattr(fast, "prefix_cache", lambda p: seen.append(len(p[0])) or orig(p))
    pairs = [(q, d) for q in QUERIES[:2] for d in TEXTS]  # 2 queries x len(TEXTS) documents
    ours = tiny_reranker.score_pairs(pairs, batch_size=2)  # 3 batches per query (6 documents)
    assert len(seen) == 2, seen  # one prefix pass per query, not one per batch
    ref = reference_rerank(tiny_reranker_dir, tiny_reranker._tok(pairs, TASK)).numpy()
    assert np.abs(ours - ref).max() <= 1e-5


def test_rerank_fast_equals_padded(tiny_reranker_dir, tiny_reranker):
    from q3embed import Reranker

    slow = Reranker.load(tiny_reranker_dir, device="cpu", dtype="float32")
    slow.use_packing = False
    docs = TEXTS[:4]
    assert np.abs(tiny_reranker.score(QUERIES[0], docs) - slow.score(QUERIES[0], docs)).max() <= 1e-5
    assert tiny_reranker.rank(QUERIES[0], docs, top_n=3) == [
        (i, pytest.approx(s, abs=1e-5)) for i, s in slow.rank(QUERIES[0], docs, top_n=3)]


