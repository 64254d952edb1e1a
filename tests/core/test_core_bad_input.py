from __future__ import annotations

import numpy as np
import pytest


def test_empty_list_gives_empty_array(tiny_embedder):
    assert tiny_embedder.encode([]).shape == (0, 64)
    out = tiny_embedder.encode([], dim=32)
    assert out.shape == (0, 32) and out.dtype == np.float32


def test_empty_string_gives_valid_vector(tiny_embedder, minilm_embedder):
    for emb in (tiny_embedder, minilm_embedder):
        v = emb.encode([""])
        assert np.isfinite(v).all() and abs(np.linalg.norm(v) - 1) < 1e-5


def test_non_string_names_index(tiny_embedder, tiny_reranker):
    with pytest.raises(TypeError, match=r"texts\[2\] is int"):
        tiny_embedder.encode(["a", "b", 3])
    with pytest.raises(TypeError, match=r"documents\[1\] is NoneType"):
        tiny_reranker.score("q", ["a", None])
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        tiny_reranker.score_pairs([("q",)])


@pytest.mark.parametrize("dim", [0, 31, 65, 1.5, "64"])
def test_dim_out_of_range_states_range(tiny_embedder, dim):
    with pytest.raises(ValueError, match="32..64"):
        tiny_embedder.encode(["a"], dim=dim)


def test_max_length_limits(tiny_embedding_dir):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cpu")
    assert emb.max_length == 8192
    assert Embedder.load(tiny_embedding_dir, device="cpu", max_length=32768).max_length == 32768
    with pytest.raises(ValueError, match="2..32768"):
        Embedder.load(tiny_embedding_dir, device="cpu", max_length=40000)


def test_single_string_returns_vector(tiny_embedder):
    v = tiny_embedder.encode("hello")
    assert v.shape == (64,)


def test_empty_documents_give_empty_scores(tiny_reranker):
    for out in (tiny_reranker.score("q", []), tiny_reranker.score_pairs([])):
        assert out.shape == (0,) and out.dtype == np.float32
    assert tiny_reranker.rank("q", []) == []
