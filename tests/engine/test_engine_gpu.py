"""The CUDA fast paths (varlen flash attention, half precision) against the fp32 reference.

Run on a GPU machine with ``pytest tests/engine -m gpu``. Tolerances: fp32 paths as on CPU
(cosine >= 0.99999, |dP| <= 1e-5); half-precision paths cosine >= 0.999 against the fp32
reference, and |dP| <= 5e-3 against the same-precision per-sequence SDPA path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_reference import cosine, reference_embed, reference_rerank

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

TEXTS = ["The capital of China is Beijing.", "Gravity is a force. " * 30, "", "a", "rivers and mountains " * 90]
QUERIES = ["What is the capital of China?", "Explain gravity"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_half_packed_embedding(tiny_embedding_dir, dtype):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cuda", dtype=dtype)
    assert emb._fast_forward().attention_kind == "varlen-flash"
    ref = reference_embed(tiny_embedding_dir, emb.tokenize(TEXTS))
    c = cosine(emb.encode(TEXTS, batch_size=3), ref)
    assert c.min() >= 0.999, c


def test_cuda_fp32_packed_embedding(tiny_embedding_dir):
    from q3embed import Embedder

    emb = Embedder.load(tiny_embedding_dir, device="cuda", dtype="float32")
    ref = reference_embed(tiny_embedding_dir, emb.tokenize(TEXTS))
    assert cosine(emb.encode(TEXTS), ref).min() >= 0.99999


def test_cuda_fp32_rerank_matches_reference(tiny_reranker_dir):
    from q3embed import Reranker

    rr = Reranker.load(tiny_reranker_dir, device="cuda", dtype="float32")
    pairs = [(q, d) for q in QUERIES for d in TEXTS]
    ref = reference_rerank(tiny_reranker_dir, rr._tok(pairs, rr_instruction())).numpy()
    assert np.abs(rr.score_pairs(pairs) - ref).max() <= 1e-5


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_varlen_prefix_rerank_matches_sdpa_loop(tiny_reranker_dir, dtype):
    from q3embed import Reranker

    rr = Reranker.load(tiny_reranker_dir, device="cuda", dtype=dtype)
    fast = rr._fast_forward()
    assert fast.attention_kind == "varlen-flash"
    pairs = [(q, d) for q in QUERIES for d in TEXTS]
    varlen = rr.score_pairs(pairs, batch_size=3)
    fast._varlen = None  # same precision, per-sequence SDPA: isolates the varlen + prefix gather
    loop = rr.score_pairs(pairs, batch_size=3)
    assert np.abs(varlen - loop).max() <= 5e-3
    ref = reference_rerank(tiny_reranker_dir, rr._tok(pairs, rr_instruction())).numpy()
    print(f"{dtype} max |dP| vs fp32 reference: {np.abs(varlen - ref).max():.2e}")


def rr_instruction():
    from q3embed.config import DEFAULT_RERANK_INSTRUCTION

    return DEFAULT_RERANK_INSTRUCTION
