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


def test_interrupted_encode_keeps_what_was_embedded_and_resumes(tmp_path):
    """A kill mid-eval (here: Ctrl-C from the 3rd step) keeps the steps already embedded."""
    texts = [f"text {i}" for i in range(10)]
    calls = []

    def dies_on_third_step(batch):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake_encode(calls)(batch)

    cache = EmbeddingCache(tmp_path, "m", dim=None, instruction=None)
    try:
        cache.encode(texts, dies_on_third_step, step=3, flush_seconds=3600)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    assert len(list(tmp_path.rglob("shard-*.npz"))) == 1  # written on the way out, not at the end of the run
    calls.clear()
    resumed = EmbeddingCache(tmp_path, "m", dim=None, instruction=None)  # the rerun, a new process
    assert len(resumed) == 6
    vecs, n = resumed.encode(texts, fake_encode(calls), step=3)
    assert n == 4 and [t for c in calls for t in c] == texts[6:]
    assert vecs[:, 0].tolist() == [len(t) for t in texts]


def test_cache_flushes_shards_while_embedding(tmp_path, monkeypatch):
    """With flush_seconds=0 every step is on disk before the next one starts (what a kill -9 needs)."""
    texts = [f"t{i}" for i in range(7)]
    seen_on_disk = []

    def encode(batch):
        seen_on_disk.append(len(list(tmp_path.rglob("shard-*.npz"))))
        return np.ones((len(batch), 2), dtype=np.float32)

    EmbeddingCache(tmp_path, "m", dim=None, instruction=None).encode(texts, encode, step=2, flush_seconds=0)
    assert seen_on_disk == [0, 1, 2, 3]
