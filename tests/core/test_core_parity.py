"""Embedder / Reranker against the official reference paths (tests/core/core_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core_reference import get_detailed_instruct, official_rerank, readme_embed

TASK = "Given a web search query, retrieve relevant passages that answer the query"
QUERIES = ["What is the capital of China?", "Explain gravity"]
DOCS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects and is "
    "responsible for the movement of planets around the sun. " * 3,
    "",
    "短い文書。中文也可以。",
]


def _cos(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_embedder_matches_readme_path_mixed_batch(tiny_embedding_dir, tiny_embedder):
    # One batch of instructed queries and documents of very different lengths (left-padded reference).
    texts = [get_detailed_instruct(TASK, q) for q in QUERIES] + DOCS
    ref, _ = readme_embed(tiny_embedding_dir, texts)
    q = tiny_embedder.encode(QUERIES, instruction=TASK)
    d = tiny_embedder.encode(DOCS)
    ours = np.concatenate([q, d])
    assert ours.dtype == np.float32 and ours.shape == (6, tiny_embedder.width)
    cos = _cos(ours, ref.numpy())
    assert cos.min() >= 0.99999, cos
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_encode_queries_uses_default_instruction(tiny_embedder):
    a = tiny_embedder.encode_queries(QUERIES)
    b = tiny_embedder.encode(QUERIES, instruction=TASK)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert _cos(a, tiny_embedder.encode_documents(QUERIES)).max() < 0.9999  # the instruction changes the vector


@pytest.mark.parametrize("dim", [32, 48, 64])
def test_mrl_dim_is_reference_slice_then_normalise(tiny_embedding_dir, tiny_embedder, dim):
    _, raw = readme_embed(tiny_embedding_dir, DOCS)
    ref = F.normalize(raw[:, :dim], p=2, dim=1).numpy()
    ours = tiny_embedder.encode(DOCS, dim=dim)
    assert ours.shape == (len(DOCS), dim)
    assert _cos(ours, ref).min() >= 0.99999


def test_batch_invariance(tiny_embedder):
    texts = ["short", "a medium length text about rivers and mountains", "x " * 300, "", "last one here"]
    together = tiny_embedder.encode(texts, batch_size=5)
    alone = np.stack([tiny_embedder.encode([t])[0] for t in texts])
    assert _cos(together, alone).min() >= 0.99999
    small_batches = tiny_embedder.encode(texts, batch_size=2)
    assert _cos(together, small_batches).min() >= 0.99999


def test_reranker_matches_official_example(tiny_reranker_dir, tiny_reranker):
    pairs = [(q, d) for q in QUERIES for d in DOCS]
    ref = official_rerank(tiny_reranker_dir, pairs).numpy()
    ours = tiny_reranker.score_pairs(pairs)
    assert ours.dtype == np.float32 and ours.shape == (len(pairs),)
    assert np.abs(ours - ref).max() <= 1e-5, np.abs(ours - ref).max()
    assert ours.std() > 1e-4  # the tiny model really discriminates, so the comparison means something


def test_reranker_custom_instruction_and_score(tiny_reranker_dir, tiny_reranker):
    instr = "Judge relevance for a medical question"
    ref = official_rerank(tiny_reranker_dir, [(QUERIES[0], d) for d in DOCS], instruction=instr).numpy()
    ours = tiny_reranker.score(QUERIES[0], DOCS, instruction=instr)
    assert np.abs(ours - ref).max() <= 1e-5
    ranked = tiny_reranker.rank(QUERIES[0], DOCS, instruction=instr, top_n=2)
    assert [i for i, _ in ranked] == list(np.argsort(-ours, kind="stable")[:2])


def test_reranker_truncation_matches_official_and_keeps_template(tiny_reranker_dir, qwen3_tokenizer_dir):
    from q3embed import Reranker

    rr = Reranker.load(tiny_reranker_dir, device="cpu", dtype="float32", max_length=128)
    long_doc = "word " * 1000
    pairs = [(QUERIES[0], long_doc), (QUERIES[1], DOCS[0])]
    ref = official_rerank(tiny_reranker_dir, pairs, max_length=128).numpy()
    np.testing.assert_allclose(rr.score_pairs(pairs), ref, atol=1e-5)
    ids = rr._tok(pairs, TASK)
    assert len(ids[0]) == 128
    assert ids[0][: len(rr._tok.prefix_ids)] == rr._tok.prefix_ids
    assert ids[0][-len(rr._tok.suffix_ids):] == rr._tok.suffix_ids


def test_reranker_never_builds_full_vocab_logits(tiny_reranker):
    # Every tensor that any aten op produces while scoring is recorded; none may have a
    # vocabulary-sized dimension (the (T, V) logits an LM head would make). Only the (2, H)
    # yes/no rows of the head are projected.
    from torch.utils._python_dispatch import TorchDispatchMode

    vocab = tiny_reranker.model.config.vocab_size
    assert vocab == 151_669
    shapes: list[tuple[str, tuple[int, ...]]] = []

    class RecordShapes(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    shapes.append((str(func), tuple(t.shape)))
            return out

    with RecordShapes():
        scores = tiny_reranker.score("q", ["a", "b b", "c c c"])
    assert scores.shape == (3,)
    assert len(shapes) > 10  # the mode saw the forward pass
    assert [(op, shape) for op, shape in shapes if vocab in shape] == []
    assert tiny_reranker.head.shape == (2, tiny_reranker.model.config.hidden_size)


def test_minilm_matches_sentence_transformers(minilm_dir, minilm_embedder):
    from sentence_transformers import SentenceTransformer

    texts = ["A man is playing a guitar.", "The new movie is awesome", "x " * 400, "", "Paris is in France."]
    st = SentenceTransformer(str(minilm_dir), device="cpu")
    ref = st.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    ours = minilm_embedder.encode(texts)
    assert ours.shape == (5, 384)
    assert _cos(ours, ref).min() >= 0.99999
    assert minilm_embedder.max_length == 256
