"""Training on the packed forward: the same loss and gradients as the padded transformers forward.

fp32, tiny random Qwen3 with the real vocabulary, texts of mixed lengths (so the padded
reference really pads). Full fine-tuning, LoRA, GradCache, gradient checkpointing, the
reranker's label loss; encoders stay on the padded path.
"""

from __future__ import annotations

import pytest
import torch

from q3embed import Embedder
from q3embed.config import DEFAULT_RERANK_INSTRUCTION
from q3embed.model.layout import read_layout
from q3embed.model.loading import load_backbone, load_tokenizer
from q3embed.runtime.tokenize import RerankTokenizer
from q3embed.train.adapters import apply_lora, base_model, enable_gradient_checkpointing
from q3embed.train.config import LoraConfig
from q3embed.train.data import text_key
from q3embed.train.encoding import EmbeddingForward
from q3embed.train.gradcache import gradcache_step, plain_step
from q3embed.train.losses import InfoNCELoss, RerankLabelLoss

CPU = torch.device("cpu")
QUERIES = [f"question {i} about topic {i % 3}" + " and more words" * (i % 4) for i in range(6)]
POSITIVES = [f"passage {i} on topic {i % 3}" + ", a longer passage body" * (3 * (i % 3)) for i in range(6)]
NEGATIVES = [f"off-topic text {i}" + " filler" * (5 * (i % 2)) for i in range(6)]


def _groups(emb: Embedder):
    return [emb.tokenize(QUERIES, "find it"), emb.tokenize(POSITIVES), emb.tokenize(NEGATIVES)]


def _loss_fn():
    keys = torch.tensor([text_key(p) for p in POSITIVES])
    loss = InfoNCELoss(temperature=0.05)
    return lambda q, p, n: loss(q, p, n.view(len(QUERIES), 1, -1), pos_keys=keys)


def _step(model, encode, groups, chunk=None):
    """(loss, {name: grad}) of one contrastive step."""
    model.zero_grad(set_to_none=True)
    if chunk:
        loss = gradcache_step(encode, groups, _loss_fn(), chunk, CPU)
    else:
        loss = plain_step(encode, groups, _loss_fn())
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_same_step(got, want):
    (got_loss, got_grads), (want_loss, want_grads) = got, want
    assert abs(got_loss - want_loss) <= 1e-5, (got_loss, want_loss)
    assert got_grads.keys() == want_grads.keys() and want_grads
    for n, g in want_grads.items():
        torch.testing.assert_close(got_grads[n], g, atol=1e-5, rtol=1e-4, msg=lambda m: f"{n}: {m}")
    assert max(g.abs().max().item() for g in want_grads.values()) > 1e-4  # real gradients were compared


def _trainable(tiny_embedding_dir, lora: bool):
    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")
    torch.manual_seed(0)
    cfg = LoraConfig(enabled=lora, rank=4, alpha=8.0)
    model = apply_lora(emb.model, cfg, "FEATURE_EXTRACTION").train()
    if lora:  # LoRA's B starts at zero; give it values so its gradient path is not trivially zero
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.02)
    return emb, model


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_packed_step_equals_padded(tiny_embedding_dir, lora):
    emb, model = _trainable(tiny_embedding_dir, lora)
    groups = _groups(emb)
    assert len({len(r) for r in groups[1]}) > 2  # mixed lengths: the padded reference pads
    packed = EmbeddingForward(model, "lasttoken", emb.pad_id, CPU)
    padded = EmbeddingForward(model, "lasttoken", emb.pad_id, CPU, packed=False)
    assert packed.packed and not padded.packed  # Qwen3 picks the packed forward by itself
    _assert_same_step(_step(model, packed, groups), _step(model, padded, groups))
    if lora:
        assert all("lora" in n for n in _step(model, packed, groups)[1])  # only adapters train


def test_packed_gradcache_equals_padded_plain(tiny_embedding_dir):
    emb, model = _trainable(tiny_embedding_dir, lora=True)
    groups = _groups(emb)
    packed = EmbeddingForward(model, "lasttoken", emb.pad_id, CPU)
    padded = EmbeddingForward(model, "lasttoken", emb.pad_id, CPU, packed=False)
    _assert_same_step(_step(model, packed, groups, chunk=4), _step(model, padded, groups))


def test_packed_gradient_checkpointing_gives_the_same_step(tiny_embedding_dir):
    emb, model = _trainable(tiny_embedding_dir, lora=False)
    groups = _groups(emb)
    encode = EmbeddingForward(model, "lasttoken", emb.pad_id, CPU)
    want = _step(model, encode, groups)
    enable_gradient_checkpointing(model)  # the trainer's switch (transformers' current API, no FutureWarning)
    calls = []
    # A pre-hook: torch's recompute stops early, before a module's forward hook would fire.
    handle = model.layers[0].mlp.register_forward_pre_hook(lambda *a: calls.append(1))
    got = _step(model, encode, groups)
    handle.remove()
    assert len(calls) == 2 * 3  # three groups, each layer-0 MLP run again in backward
    _assert_same_step(got, want)


def test_packed_vectors_equal_embedder_encode(tiny_embedder):
    encode = EmbeddingForward(tiny_embedder.model, "lasttoken", tiny_embedder.pad_id, CPU)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(encode(tiny_embedder.tokenize(POSITIVES)), dim=-1).numpy()
    torch.testing.assert_close(torch.from_numpy(ours), torch.from_numpy(tiny_embedder.encode(POSITIVES)),
                               atol=1e-6, rtol=0)


def test_packed_rerank_loss_equals_padded(tiny_reranker_dir):
    layout = read_layout(tiny_reranker_dir)
    lm = load_backbone(layout, CPU, torch.float32, causal_lm=True)
    model = apply_lora(lm, LoraConfig(enabled=False), "CAUSAL_LM").train()
    tok = load_tokenizer(layout)
    rows = RerankTokenizer(tok, 128)([(q, d) for q, d in zip(QUERIES, POSITIVES + NEGATIVES)], DEFAULT_RERANK_INSTRUCTION)
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    body, head = base_model(model).model, base_model(model).get_output_embeddings().weight
    loss = RerankLabelLoss("vocab")
    results = []
    for packed in (True, False):
        encode = EmbeddingForward(body, "lasttoken", tok.pad_token_id or 0, CPU, packed=packed)
        model.zero_grad(set_to_none=True)
        value = loss(encode(rows), head, labels)
        value.backward()
        results.append((value.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    _assert_same_step(*results)


def test_encoders_stay_padded(minilm_embedder):
    encode = EmbeddingForward(minilm_embedder.model, "mean", minilm_embedder.pad_id, CPU)
    assert not encode.packed
    with pytest.raises(ValueError, match="Qwen3 backbone"):
        EmbeddingForward(minilm_embedder.model, "mean", minilm_embedder.pad_id, CPU, packed=True)


def test_lora_wrap_is_quiet(tiny_embedding_dir):
    """peft reads transformers' deprecated ``is_gradient_checkpointing``; apply_lora keeps that FutureWarning
    away from users (it is peft's, not q3embed's), and lets every other warning through."""
    import warnings

    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        apply_lora(emb.model, LoraConfig(enabled=True, rank=4), "FEATURE_EXTRACTION")
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)], [str(w.message) for w in seen]
