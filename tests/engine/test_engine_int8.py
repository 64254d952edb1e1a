"""Opt-in int8 dynamic quantisation (runtime/quantize.py): close to fp32, batch-invariant, refused when misnamed.

The tolerances here are for tiny random models and the real MiniLM; the measured quality cost
on real data (STSB Spearman, SciFact nDCG@10, top-10 agreement) is in docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("torchao")

SENTENCES = [
    "A man is playing a guitar.", "A woman is slicing an onion.", "The cat sleeps on the warm windowsill.",
    "Stock markets fell sharply after the announcement.", "Vitamin D deficiency is linked to bone loss.",
    "Two dogs run across a snowy field.", "The recipe needs three eggs and a cup of flour.",
    "Quantum computers use qubits instead of bits.",
]


@pytest.fixture(scope="module")
def int8_embedder(tiny_embedding_dir):
    from q3embed import Embedder

    return Embedder.load(tiny_embedding_dir, device="cpu", quantize="int8")


def _quantised_linears(model) -> int:
    return sum(type(m.weight).__name__ != "Parameter" and type(m.weight) is not torch.Tensor
               for name, m in model.named_modules() if isinstance(m, torch.nn.Linear))


def test_int8_replaces_block_linears_only(int8_embedder):
    model = int8_embedder.model
    n_block_linears = 7 * len(model.layers)  # q, k, v, o, gate, up, down per layer
    assert _quantised_linears(model) == n_block_linears
    assert type(model.embed_tokens.weight) is torch.nn.Parameter  # embeddings keep the compute dtype
    assert int8_embedder.dtype == torch.float32  # int8 kernels take fp32 activations on CPU


def test_int8_close_to_fp32_but_not_identical(int8_embedder, tiny_embedder):
    ref = tiny_embedder.encode(SENTENCES)
    q = int8_embedder.encode(SENTENCES)
    cos = (ref * q).sum(1)
    assert cos.min() >= 0.998, cos  # measured 0.99917
    assert np.abs(ref - q).max() > 1e-6  # quantisation did take effect


def test_int8_is_batch_invariant(int8_embedder):
    together = int8_embedder.encode(SENTENCES)
    alone = np.stack([int8_embedder.encode(s) for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_int8_reranker_keeps_ranking_close(tiny_reranker_dir, tiny_reranker):
    from scipy.stats import spearmanr

    from q3embed import Reranker

    rr8 = Reranker.load(tiny_reranker_dir, device="cpu", quantize="int8")
    docs = SENTENCES * 2
    ref = tiny_reranker.score("what do animals do?", docs)
    q = rr8.score("what do animals do?", docs)
    assert np.abs(ref - q).max() < 0.05
    assert spearmanr(ref, q).statistic >= 0.9


def test_int8_minilm_real_model_cosine(minilm_dir, minilm_embedder):
    from q3embed import Embedder

    emb8 = Embedder.load(minilm_dir, device="cpu", quantize="int8")
    assert _quantised_linears(emb8.model) == 6 * 6  # 6 BERT layers: q, k, v, attn out, intermediate, out
    ref, q = minilm_embedder.encode(SENTENCES), emb8.encode(SENTENCES)
    assert (ref * q).sum(1).min() >= 0.995  # measured 0.99684
    # the nearest neighbour of every sentence among the others is unchanged
    np.fill_diagonal(sim_ref := ref @ ref.T, -1)
    np.fill_diagonal(sim_q := q @ q.T, -1)
    assert (sim_ref.argmax(1) == sim_q.argmax(1)).all()


def test_unknown_quantize_mode_is_refused(tiny_embedding_dir):
    from q3embed import Embedder

    with pytest.raises(ValueError, match="accepted: None \\(off\\), int8"):
        Embedder.load(tiny_embedding_dir, device="cpu", quantize="int4")


def test_int8_vectors_never_share_an_eval_cache_entry_with_fp32(int8_embedder, tiny_embedder):
    from q3embed.eval.cache import model_key

    assert int8_embedder.dtype == tiny_embedder.dtype  # same dtype, so the dtype alone cannot tell them apart
    assert model_key(int8_embedder) != model_key(tiny_embedder)
    assert "quantize=int8" in repr(int8_embedder) and "quantize" not in repr(tiny_embedder)


def test_cli_quantize_flag(tmp_path, tiny_embedding_dir, tiny_embedder, capsys):
    from q3embed.cli import main

    src = tmp_path / "texts.txt"
    src.write_text("\n".join(SENTENCES) + "\n")
    assert main(["embed", "--model", str(tiny_embedding_dir), "--device", "cpu", "--quantize", "int8",
                 str(src), str(tmp_path / "v.npy")]) == 0
    vecs = np.load(tmp_path / "v.npy")
    ref = tiny_embedder.encode(SENTENCES)
    assert (vecs * ref).sum(1).min() >= 0.998 and np.abs(vecs - ref).max() > 1e-6
    with pytest.raises(SystemExit) as e:
        main(["embed", "--model", str(tiny_embedding_dir), "--quantize", "int4", str(src), str(tmp_path / "w.npy")])
    assert e.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err
