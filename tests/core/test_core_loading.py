from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from q3embed import Embedder, Reranker
from q3embed.errors import CheckpointError, ModelNotFoundError
from q3embed.model.layout import read_layout


def test_sentence_transformers_layout_is_read(tiny_embedding_dir):
    layout = read_layout(tiny_embedding_dir)
    assert layout.sentence_transformers and layout.pooling == "lasttoken" and layout.normalize
    assert layout.prompts["query"].startswith("Instruct: ")
    assert layout.is_decoder


def test_sharded_checkpoint_loads_identically(tmp_path, tiny_embedding_dir, tiny_embedder):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_embedding_dir)
    model.save_pretrained(tmp_path, max_shard_size="5MB")
    for f in tiny_embedding_dir.glob("tokenizer*"):
        shutil.copy(f, tmp_path)
    assert (tmp_path / "model.safetensors.index.json").exists()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    emb = Embedder.load(tmp_path, device="cpu", dtype="float32")
    np.testing.assert_allclose(emb.encode(["abc", "de f"]), tiny_embedder.encode(["abc", "de f"]), atol=1e-6)


def test_causal_lm_checkpoint_embeds_with_backbone(tiny_reranker_dir):
    emb = Embedder.load(tiny_reranker_dir, device="cpu")
    assert emb.encode(["x"]).shape == (1, 64)


def test_missing_local_model_names_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / "nope")):
        Embedder.load(tmp_path / "nope")


def test_missing_hub_model_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as e:
        Embedder.load("Qwen/Qwen3-Embedding-does-not-exist")
    assert "Qwen/Qwen3-Embedding-does-not-exist" in str(e.value) and "cache" in str(e.value)


def test_corrupt_safetensors_names_file(tmp_path, tiny_embedding_dir):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_embedding_dir, bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[: 1000])  # truncated
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Embedder.load(bad)


def test_missing_shard_names_file(tmp_path, tiny_embedding_dir):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_embedding_dir, bad)
    (bad / "model.safetensors").unlink()
    (bad / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}))
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors"):
        Embedder.load(bad)


def test_corrupt_config_names_file(tmp_path, tiny_embedding_dir):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_embedding_dir, bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        Embedder.load(bad)


def test_reranker_refuses_encoder(minilm_dir):
    with pytest.raises(CheckpointError, match="bert"):
        Reranker.load(minilm_dir)


def test_dtype_and_device_override(tiny_embedding_dir):
    import torch

    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="bfloat16")
    assert emb.dtype == torch.bfloat16 and emb.device.type == "cpu"
    assert emb.encode(["hi"]).dtype == np.float32
    with pytest.raises(ValueError, match="accepted"):
        Embedder.load(tiny_embedding_dir, dtype="float8")
