"""The CUDA fast paths (varlen flash attention, half precision) against the fp32 reference.

Run on a GPU machine with ``pytest tests/engine -m gpu`` (``bench/gpu_suite.py`` runs it and the
same checks in-process). The checks and thresholds live in ``q3embed.engine.gpu_checks``: fp32 paths as on
CPU (cosine >= 0.99999, |dP| <= 1e-5); half precision: embedding cosine >= 0.999 to the fp32
reference; reranker |dP| to fp32 <= 5e-3 (fp16) / 1e-2 (bf16) with the same top-10 on a fixed
example, and <= 5e-3 to the same precision's per-sequence loop; every attention call went
through the varlen kernel (counted, no fallback warning, and the profiler saw its op).
"""

from __future__ import annotations

import pytest
import torch

from q3embed.engine import gpu_checks as checks

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_half_packed_embedding(tiny_embedding_dir, dtype):
    fig = checks.embedding_half_check(tiny_embedding_dir, "cuda", dtype)
    assert checks.embedding_verdict(fig) == [], fig


def test_cuda_fp32_packed_embedding(tiny_embedding_dir):
    assert checks.fp32_embedding_check(tiny_embedding_dir, "cuda") >= 0.99999


def test_cuda_fp32_rerank_matches_reference(tiny_reranker_dir):
    assert checks.fp32_rerank_check(tiny_reranker_dir, "cuda") <= 1e-5


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_half_rerank_matches_reference(tiny_reranker_dir, dtype):
    fig = checks.rerank_half_check(tiny_reranker_dir, "cuda", dtype)
    assert checks.rerank_verdict(fig) == [], fig
