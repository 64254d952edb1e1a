"""Exports keep the base model's release dtype (bf16 for official Qwen3) unless save_dtype says otherwise."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from q3embed import Embedder
from q3embed.model.layout import read_layout
from q3embed.model.tiny import save_tiny_qwen3
from q3embed.train.config import ConfigError, load_config
from q3embed.train.embed_trainer import EmbedTrainer
from q3embed.train.export import export_reranker_model, save_dtype_for


def _stored(ckpt) -> tuple[str, set]:
    config = json.loads((ckpt / "config.json").read_text())
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    return config.get("dtype") or config.get("torch_dtype"), dtypes


@pytest.fixture(scope="module")
def bf16_embedding_dir(tmp_path_factory, qwen3_tokenizer_dir):
    return save_tiny_qwen3(tmp_path_factory.mktemp("bf16_embedding"), kind="embedding", dtype=torch.bfloat16,
                           tokenizer_dir=qwen3_tokenizer_dir)


@pytest.mark.slow  # two training runs with real-vocabulary exports (~25 s on 2 loaded cores)
def test_bf16_release_is_saved_bf16_unless_asked(tmp_path, bf16_embedding_dir, toy_train_file, train_overrides):
    assert read_layout(bf16_embedding_dir).stored_dtype == "bfloat16"
    cfg = load_config(None, train_overrides(bf16_embedding_dir, tmp_path / "auto", toy_train_file, "batch_size=4",
                                            "data.num_negatives=1", "optim.max_steps=1", "optim.lr=1e-3"))
    trainer = EmbedTrainer(cfg).setup()
    assert next(trainer.model.parameters()).dtype == torch.float32  # trained in fp32
    trainer.train()
    assert _stored(tmp_path / "auto" / "final") == ("bfloat16", {torch.bfloat16})
    assert Embedder.load(tmp_path / "auto" / "final", device="cpu").dtype == torch.bfloat16  # serves as its base does

    cfg = load_config(None, train_overrides(bf16_embedding_dir, tmp_path / "fp32", toy_train_file, "batch_size=4",
                                            "data.num_negatives=1", "optim.max_steps=1", "optim.lr=1e-3",
                                            "save_dtype=float32"))
    EmbedTrainer(cfg).setup().train()
    assert _stored(tmp_path / "fp32" / "final") == ("float32", {torch.float32})


def test_fp32_release_stays_fp32():
    assert save_dtype_for("auto", "float32") == "float32"
    assert save_dtype_for("auto", None) == "float32"  # no recorded dtype: keep the training precision
    assert save_dtype_for("auto", "torch.float16") == "float16"
    assert save_dtype_for("bfloat16", "float32") == "bfloat16"


def test_reranker_export_follows_its_base(tmp_path, qwen3_tokenizer_dir):
    from q3embed.model.loading import load_backbone, load_tokenizer

    base = save_tiny_qwen3(tmp_path / "rr", kind="reranker", dtype=torch.bfloat16, tokenizer_dir=qwen3_tokenizer_dir,
                           tie_word_embeddings=False)
    layout = read_layout(base)
    lm = load_backbone(layout, torch.device("cpu"), torch.float32, causal_lm=True)
    export_reranker_model(lm, load_tokenizer(layout), tmp_path / "out", layout)
    assert _stored(tmp_path / "out") == ("bfloat16", {torch.bfloat16})
    export_reranker_model(lm, load_tokenizer(layout), tmp_path / "out32", layout, dtype="float32")
    assert _stored(tmp_path / "out32") == ("float32", {torch.float32})


def test_unknown_save_dtype_is_refused(tmp_path, toy_train_file, train_overrides):
    with pytest.raises(ConfigError, match="save_dtype 'fp8' is not known; accepted: auto, float32, bfloat16, float16"):
        load_config(None, train_overrides("m", tmp_path, toy_train_file, "save_dtype=fp8"))
