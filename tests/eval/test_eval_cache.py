"""Embedding cache: hits by text hash, keys by model/dim/instruction, invalidation on new weights."""

from __future__ import annotations

import os

import numpy as np

from q3embed.eval.cache import EmbeddingCache, encode_cached, model_key


def fake_encode(calls):
    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
    return encode


def test_cache_encodes_only_new_texts_and_survives_reload(tmp_path):
    calls = []
    cache = EmbeddingCache(tmp_path, "m", dim=None, instruction=None)
    v1, n1 = cache.encode(["a", "bb", "a"], fake_encode(calls))
    assert n1 == 2 and calls == [["a", "bb"]] and v1[:, 0].tolist() == [1, 2, 1]
    fresh = EmbeddingCache(tmp_path, "m", dim=None, instruction=None)  # a new process, same directory
    v2, n2 = fresh.encode(["bb", "ccc"], fake_encode(calls))
    assert n2 == 1 and calls[-1] == ["ccc"] and v2[:, 0].tolist() == [2, 3]
    other = EmbeddingCache(tmp_path, "m", dim=64, instruction=None)  # another dim: another key
    other.encode(["a"], fake_encode(calls))
    assert calls[-1] == ["a"]
    instr = EmbeddingCache(tmp_path, "m", dim=None, instruction="Given a claim")
    instr.encode(["a"], fake_encode(calls))
    assert calls[-1] == ["a"] and len(calls) == 4


def test_model_key_changes_with_weights(tiny_embedder, tmp_path):
    key = model_key(tiny_embedder)
    assert key and key == model_key(tiny_embedder)
    weights = next(tiny_embedder.layout.root.glob("*.safetensors"))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        assert model_key(tiny_embedder) != key
    finally:
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_encode_cached_round_trip_with_real_model(tiny_embedder, tmp_path):
    texts = ["hello world", "a second text"]
    first = encode_cached(tiny_embedder, texts, dim=32, cache_dir=tmp_path)
    again = encode_cached(tiny_embedder, texts, dim=32, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, tiny_embedder.encode(texts, dim=32), atol=1e-6)
    assert len(list(tmp_path.rglob("shard-*.npz"))) == 1
