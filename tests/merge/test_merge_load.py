"""Merged outputs load in Embedder / Reranker / transformers, for Qwen3 and a BERT encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from merge_helpers import perturbed_copy, tiny_bert

from q3embed import Embedder, Reranker
from q3embed.merge import merge_checkpoints, multislerp

TEXTS = ["The capital of China is Beijing.", "Gravity is a force that attracts two bodies."]


def test_merged_embedding_loads_in_embedder(tiny_embedding_dir, tiny_embedding_b, tmp_path):
    out = tmp_path / "merged"
    merge_checkpoints([tiny_embedding_dir, tiny_embedding_b], out, t=0.5, shard_bytes=8 * 2**20)
    assert (out / "model.safetensors.index.json").exists()  # sharded output (the embedding alone is ~39 MB)
    assert (out / "2_Normalize").is_dir() and (out / "tokenizer.json").exists()
    emb = Embedder.load(out, device="cpu", dtype="float32")
    assert emb.layout.pooling == "lasttoken" and emb.layout.prompts  # the ST files came along
    vecs = emb.encode(TEXTS)
    assert vecs.shape == (2, 64) and np.isfinite(vecs).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_merged_embedding_sits_between_the_inputs(tiny_embedding_dir, tiny_embedding_b, tmp_path):
    out = tmp_path / "merged"
    merge_checkpoints([tiny_embedding_dir, tiny_embedding_b], out, t=0.5)
    vecs = {p: Embedder.load(p, device="cpu", dtype="float32").encode(TEXTS) for p in (tiny_embedding_dir, tiny_embedding_b, out)}
    cos = lambda x, y: float((x * y).sum(1).mean())  # noqa: E731
    assert cos(vecs[out], vecs[tiny_embedding_dir]) > cos(vecs[tiny_embedding_dir], vecs[tiny_embedding_b])
    assert cos(vecs[out], vecs[tiny_embedding_b]) > cos(vecs[tiny_embedding_dir], vecs[tiny_embedding_b])


def test_merged_reranker_loads_in_reranker(tiny_reranker_dir, tmp_path):
    """Reranker.load goes through transformers' AutoModelForCausalLM, so this is the transformers check too."""
    from safetensors.torch import load_file

    b = perturbed_copy(tiny_reranker_dir, tmp_path / "b", seed=2, scale=0.2)
    out = tmp_path / "merged"
    merge_checkpoints([tiny_reranker_dir, b], out, method="multislerp", weights=[1, 1])
    rr = Reranker.load(out, device="cpu", dtype="float32")
    scores = rr.score("capital of China?", TEXTS)
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    ref, other = load_file(tiny_reranker_dir / "model.safetensors"), load_file(b / "model.safetensors")
    k = "model.layers.1.mlp.down_proj.weight"
    loaded = rr.model.state_dict()[k.removeprefix("model.")]  # .model is the backbone inside the causal LM
    torch.testing.assert_close(loaded, multislerp([ref[k], other[k]]), rtol=1e-5, atol=1e-5)
    assert not torch.equal(loaded, ref[k])


def test_bert_encoder_merge_loads_in_embedder(minilm_dir, tmp_path):
    """The merge is not Qwen3-only: a BERT encoder with sentence-transformers files."""
    for seed, name in ((0, "a"), (1, "b")):
        tiny_bert(minilm_dir, tmp_path / name, seed)
    merge_checkpoints([tmp_path / "a", tmp_path / "b"], tmp_path / "merged", method="slerp", t="0,1")
    emb = Embedder.load(tmp_path / "merged", device="cpu", dtype="float32")
    assert emb.layout.model_type == "bert" and emb.layout.pooling == "mean"
    vecs = emb.encode(TEXTS)
    assert vecs.shape == (2, 32) and np.isfinite(vecs).all()


@pytest.mark.slow
def test_bert_encoder_merge_loads_in_embedder_and_sentence_transformers(minilm_dir, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    b = perturbed_copy(minilm_dir, tmp_path / "b", seed=3, scale=0.01)
    out = tmp_path / "merged"
    merge_checkpoints([minilm_dir, b], out, t=0.5)
    ours = Embedder.load(out, device="cpu", dtype="float32").encode(TEXTS)
    theirs = st.SentenceTransformer(str(out), device="cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    base = Embedder.load(minilm_dir, device="cpu", dtype="float32").encode(TEXTS)
    assert (ours * base).sum(1).min() > 0.99  # 1% noise, half of it: still the same model


def test_both_sources_satisfy_the_tensor_source_protocol():
    import inspect

    from q3embed.merge import lora, sources
    from q3embed.merge.tensor_source import TensorSource

    for cls in (sources.CheckpointSource, lora.LoraSource):
        for member in ("names", "dtype", "shape", "read_rows"):
            assert hasattr(cls, member), (cls.__name__, member)
    # lora and sources both build on tensor_source; lora never imports sources (no import cycle)
    assert "from .sources" not in inspect.getsource(lora)
    assert TensorSource.__module__ == "q3embed.merge.tensor_source"
