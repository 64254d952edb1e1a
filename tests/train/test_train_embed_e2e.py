"""Tiny Qwen3 end to end: LoRA steps with falling loss, export, and the same vectors from
q3embed, sentence-transformers and transformers AutoModel; MiniLM keeps its mean pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from q3embed import Embedder
from q3embed.config import DEFAULT_QUERY_INSTRUCTION
from q3embed.model.layout import read_layout
from q3embed.runtime.pooling import last_token_pool
from q3embed.train.config import load_config
from q3embed.train.embed_trainer import EmbedTrainer

QUERIES = ["tell me about cats 0", "where do rivers go?"]
DOCS = ["a short passage about cats", "Rivers flow to the sea."]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_embedding_dir, toy_train_file, train_overrides):
    out = tmp_path_factory.mktemp("lora_run")
    cfg = load_config(None, train_overrides(
        tiny_embedding_dir, out, toy_train_file, "batch_size=8", "data.num_negatives=2", "optim.lr=2e-3",
        "optim.warmup_ratio=0", "optim.scheduler=constant", "optim.epochs=3", "save_every=3",
        "lora.enabled=true", "lora.rank=8", "lora.alpha=16", "loss.mrl_dims=[32, 64]",
        # The false-negative mask lets more terms into Z_i as the positives' scores rise, so the
        # masked loss need not fall monotonically; the falling-loss check uses the unmasked one.
        "loss.false_negative_mask=false"))
    trainer = EmbedTrainer(cfg).setup()
    losses = trainer.train()
    trainer.cleanup()
    return trainer, losses, out


def test_lora_loss_falls(lora_run):
    trainer, losses, out = lora_run
    assert len(losses) == 9 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 10))
    assert {"loss", "lr", "examples_per_s", "tokens_per_s"} <= set(rows[0])
    assert (out / "loss_curve.png").stat().st_size > 1000


def test_export_is_merged_and_gives_the_trained_vectors(lora_run, tiny_embedding_dir):
    trainer, _, out = lora_run
    final = out / "final"
    from safetensors import safe_open

    with safe_open(str(final / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert not any("lora" in k or "base_layer" in k for k in keys)
    assert sorted(keys) == sorted(safe_open(str(tiny_embedding_dir / "model.safetensors"), "pt").keys())
    trainer.model.eval()
    live_q = trainer.embedder.encode_queries(QUERIES)  # the in-memory LoRA model
    live_d = trainer.embedder.encode_documents(DOCS)
    emb = Embedder.load(final, device="cpu")
    np.testing.assert_allclose(emb.encode_queries(QUERIES), live_q, atol=1e-5)
    np.testing.assert_allclose(emb.encode_documents(DOCS), live_d, atol=1e-5)
    base = Embedder.load(tiny_embedding_dir, device="cpu").encode_documents(DOCS)
    assert np.abs(base - live_d).max() > 1e-3  # training changed the model
    layout = read_layout(final)
    assert layout.pooling == "lasttoken" and layout.normalize
    assert layout.prompts["query"] == f"Instruct: {DEFAULT_QUERY_INSTRUCTION}\nQuery:"
    assert all((out / f"checkpoint-{s}" / "model.safetensors").is_file() for s in (3, 6, 9))
    assert Embedder.load(out / "checkpoint-3", device="cpu").encode(["x"]).shape == (1, 64)


def test_export_loads_in_sentence_transformers_and_automodel(lora_run):
    st = pytest.importorskip("sentence_transformers")
    from transformers import AutoModel, AutoTokenizer

    final = lora_run[2] / "final"
    emb = Embedder.load(final, device="cpu")
    want_q, want_d = emb.encode_queries(QUERIES), emb.encode_documents(DOCS)

    model = st.SentenceTransformer(str(final), device="cpu")
    np.testing.assert_allclose(model.encode(QUERIES, prompt_name="query"), want_q, atol=1e-5)
    np.testing.assert_allclose(model.encode(DOCS), want_d, atol=1e-5)

    tok = AutoTokenizer.from_pretrained(final)
    auto = AutoModel.from_pretrained(final).eval()
    texts = [f"Instruct: {DEFAULT_QUERY_INSTRUCTION}\nQuery:{q}" for q in QUERIES]
    batch = tok(texts, padding=True, return_tensors="pt")  # the export's tokenizer appends <|endoftext|>
    with torch.no_grad():
        hidden = auto(**batch).last_hidden_state
    vecs = torch.nn.functional.normalize(last_token_pool(hidden, batch["attention_mask"]), dim=-1).numpy()
    np.testing.assert_allclose(vecs, want_q, atol=1e-5)


def test_minilm_export_keeps_mean_pooling(tmp_path, minilm_dir, toy_train_file, train_overrides):
    st = pytest.importorskip("sentence_transformers")
    cfg = load_config(None, train_overrides(minilm_dir, tmp_path, toy_train_file, "batch_size=4",
                                            "data.num_negatives=1", "optim.max_steps=1", "optim.lr=1e-4"))
    trainer = EmbedTrainer(cfg).setup()
    trainer.train()
    final = tmp_path / "final"
    layout = read_layout(final)
    assert layout.pooling == "mean" and layout.max_seq_length == 256 and layout.model_type == "bert"
    ours = Embedder.load(final, device="cpu").encode(DOCS)
    theirs = st.SentenceTransformer(str(final), device="cpu").encode(DOCS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    base = Embedder.load(minilm_dir, device="cpu").encode(DOCS)
    assert np.abs(base - ours).max() > 1e-5


def test_gradient_checkpointing_bf16_gradcache_run(tmp_path, tiny_embedding_dir, toy_train_file, train_overrides):
    cfg = load_config(None, train_overrides(
        tiny_embedding_dir, tmp_path, toy_train_file, "batch_size=4", "data.num_negatives=1", "optim.max_steps=2",
        "gradient_checkpointing=true", "bf16=true", "gradcache_chunk=3"))
    losses = EmbedTrainer(cfg).setup().train()
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_training_forward_vectors_equal_encode_on_the_checkpoint(lora_run):
    """What the trainer computed (the packed forward, LoRA live) is what Embedder.encode gives on the export."""
    trainer, _, out = lora_run
    assert trainer.encode.packed  # Qwen3 trained on the engine's packed forward, not the padded one
    trainer.model.eval()
    with torch.no_grad():
        q = trainer.encode(trainer.query_ids(QUERIES, [trainer.default_instruction] * len(QUERIES)))  # (2, H)
        d = trainer.encode(trainer.embedder.tokenize(DOCS))  # (2, H)
    emb = Embedder.load(out / "final", device="cpu", dtype="float32")
    np.testing.assert_allclose(emb.encode_queries(QUERIES), torch.nn.functional.normalize(q, dim=-1).numpy(), atol=1e-5)
    np.testing.assert_allclose(emb.encode_documents(DOCS), torch.nn.functional.normalize(d, dim=-1).numpy(), atol=1e-5)
