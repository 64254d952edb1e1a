"""The GPU correctness checks, as functions that return their figures.

``tests/engine/test_engine_gpu.py`` asserts on them (``pytest -m gpu``), and ``bench/gpu_suite.py``
runs the same functions in-process to put the figures in its report. On CPU (the suite's
``--cpu-dry-run``) the varlen kernel is replaced by the per-sequence SDPA emulation of
``tests/engine/test_engine_varlen_plan.py``, so that the same code paths, counters and verdicts run.

Thresholds: half precision against the fp32 reference, embedding cosine >= 0.999;
reranker |dP| <= 5e-3 with the same top-10 on a fixed example; the varlen kernel is the one
that ran (every attention call went through it, none fell back to the per-sequence loop).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import torch

from .reference import cosine, reference_embed, reference_rerank

EMBED_COSINE_MIN = 0.999
# Reranker |dP| against the fp32 reference. bf16 keeps 8 mantissa bits to fp16's 11: on the tiny
# test reranker (init std 0.08) bf16 measured 5.5e-3 on CPU and fp16 3.9e-4, so bf16 gets 1e-2.
RERANK_DP_MAX = {"float16": 5e-3, "bfloat16": 1e-2}
RERANK_DP_LOOP_MAX = 5e-3  # varlen + prefix gather vs the same precision's per-sequence loop
TOP_K = 10

TEXTS = ["The capital of China is Beijing.", "Gravity is a force. " * 30, "", "a", "rivers and mountains " * 90]
SHORT_TEXTS = ["The capital of China is Beijing.", "", "a", "rivers and mountains " * 3]  # CPU dry runs
QUERIES = ["What is the capital of China?", "Explain gravity"]
# The fixed top-10 example: one query over 20 documents.
RANK_QUERY = "What is the capital of China?"
RANK_DOCS = [
    "The capital of China is Beijing.", "Beijing has been the capital for centuries.",
    "Shanghai is the largest city in China.", "Gravity pulls masses together.",
    "Paris is the capital of France.", "The Great Wall is visible from many hills near Beijing.",
    "Rivers and mountains " * 12, "Tea is grown in the south of China.",
    "Bananas are yellow when ripe.", "The Forbidden City lies at the centre of Beijing.",
    "A capital letter starts a sentence.", "Nanjing was once the capital of China.",
    "Photosynthesis turns light into sugar.", "The yuan is the currency of China.",
    "Tokyo is the capital of Japan.", "Capital gains are taxed differently.",
    "The Yangtze is the longest river in Asia.", "Beijing hosted the 2008 Olympic Games.",
    "Quantum computers use qubits.", "Xi'an was the capital of several dynasties.",
]

# What the profiler must see for "the varlen kernel ran": torch's varlen op or the flash /
# cuDNN attention forward it calls (names differ between torch releases).
CUDA_VARLEN_OPS = r"varlen|flash_attention|cudnn_attention"


class VarlenCounter:
    """Wraps a packed forward's varlen callable and counts the calls that returned."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.calls += 1
        return out


def attach_counter(fast, emulate=None) -> VarlenCounter:
    """Put a counter around ``fast``'s varlen kernel (or ``emulate``, for CPU runs); return it."""
    fn = emulate if emulate is not None else fast._varlen
    if fn is None:
        raise RuntimeError(f"no varlen kernel on this device/dtype (attention_kind={fast.attention_kind})")
    counter = VarlenCounter(fn)
    fast._varlen = counter
    return counter


def _attention_ops(prof) -> list[str]:
    names = {e.key for e in prof.key_averages()}
    return sorted(n for n in names if re.search(r"attn|attention|flash|varlen", n, re.I))


def _profiled(fn):
    from torch.profiler import ProfilerActivity, profile

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            out = fn()
    fallback = [str(w.message) for w in caught if "varlen attention failed" in str(w.message)]
    return out, _attention_ops(prof), fallback


def embedding_half_check(model_dir, device: str, dtype: str, emulate=None, texts=TEXTS) -> dict:
    """Half-precision packed embedding through the varlen kernel vs the fp32 transformers reference."""
    from .embedder import Embedder

    emb = Embedder.load(model_dir, device=device, dtype=dtype)
    fast = emb._fast_forward()
    counter = attach_counter(fast, emulate)
    vecs, ops, fallback = _profiled(lambda: emb.encode(texts, batch_size=3))
    ref = reference_embed(model_dir, emb.tokenize(texts))
    return {
        "cosine_min": float(cosine(vecs, ref).min()),
        "varlen_calls": counter.calls,
        "varlen_kept": fast._varlen is counter,  # False: it raised and the loop took over
        "fallback_warnings": fallback,
        "attention_ops": ops,
        "layers": len(emb.model.layers),
    }


def ranking_consistent(fast: np.ndarray, ref: np.ndarray, tol: float, k: int = TOP_K) -> bool:
    """True if every pair that ``fast``'s top k puts in order is in that order in ``ref``, up to ``tol``.

    The exact top-k test is "same list"; scores of the tiny random reranker lie within a few 1e-3
    of each other, so at bf16's tolerance some neighbours are ties, and this is the test that means
    something there: no document jumps over one that the reference puts more than ``tol`` ahead.
    """
    order = [int(i) for i in np.argsort(-fast, kind="stable")]
    top = order[:k]
    return all(ref[a] >= ref[b] - tol for n, a in enumerate(top) for b in order[n + 1:])


def rerank_half_check(model_dir, device: str, dtype: str, emulate=None, texts=TEXTS) -> dict:
    """Half-precision reranking (varlen + shared prefix) vs the fp32 reference and vs the same-precision loop."""
    from .reranker import Reranker
    from ..config import DEFAULT_RERANK_INSTRUCTION

    rr = Reranker.load(model_dir, device=device, dtype=dtype)
    fast = rr._fast_forward()
    counter = attach_counter(fast, emulate)
    pairs = [(q, d) for q in QUERIES for d in texts] + [(RANK_QUERY, d) for d in RANK_DOCS]
    fast_p, ops, fallback = _profiled(lambda: rr.score_pairs(pairs, batch_size=8))
    kept = fast._varlen is counter
    calls = counter.calls
    fast._varlen = None  # same precision, per-sequence SDPA: isolates the varlen + prefix gather
    loop_p = rr.score_pairs(pairs, batch_size=8)
    ref = reference_rerank(model_dir, rr._tok(pairs, DEFAULT_RERANK_INSTRUCTION)).numpy()
    n = len(RANK_DOCS)
    rank_fast, rank_ref = fast_p[-n:], ref[-n:]
    top = lambda s: [int(i) for i in np.argsort(-s, kind="stable")[:TOP_K]]  # noqa: E731
    return {
        "dtype": dtype,
        "max_dp_vs_fp32": float(np.abs(fast_p - ref).max()),
        "max_dp_vs_loop": float(np.abs(fast_p - loop_p).max()),
        "top10_same": top(rank_fast) == top(rank_ref),
        "top10_consistent": ranking_consistent(rank_fast, rank_ref, 2 * RERANK_DP_MAX[dtype]),
        "top10_fast": top(rank_fast),
        "top10_ref": top(rank_ref),
        "varlen_calls": calls,
        "varlen_kept": kept,
        "fallback_warnings": fallback,
        "attention_ops": ops,
    }


def varlen_ran(fig: dict, expect_ops: str = CUDA_VARLEN_OPS, min_calls: int = 1) -> list[str]:
    """Reasons the varlen kernel did not (only) run; empty when it did."""
    bad = []
    if not fig["varlen_kept"] or fig["fallback_warnings"]:
        bad.append(f"varlen kernel fell back to the per-sequence loop: {fig['fallback_warnings']}")
    if fig["varlen_calls"] < min_calls:
        bad.append(f"varlen kernel called {fig['varlen_calls']} times, expected >= {min_calls}")
    if not any(re.search(expect_ops, op, re.I) for op in fig["attention_ops"]):
        bad.append(f"profiler saw no op matching {expect_ops!r}; attention ops seen: {fig['attention_ops']}")
    return bad


def embedding_verdict(fig: dict, expect_ops: str = CUDA_VARLEN_OPS) -> list[str]:
    bad = varlen_ran(fig, expect_ops, min_calls=fig["layers"])
    if not fig["cosine_min"] >= EMBED_COSINE_MIN:
        bad.append(f"embedding cosine to fp32 {fig['cosine_min']:.6f} < {EMBED_COSINE_MIN}")
    return bad


def rerank_verdict(fig: dict, expect_ops: str = CUDA_VARLEN_OPS) -> list[str]:
    bad = varlen_ran(fig, expect_ops)
    tol = RERANK_DP_MAX[fig["dtype"]]
    if not fig["max_dp_vs_fp32"] <= tol:
        bad.append(f"reranker {fig['dtype']} max |dP| vs fp32 {fig['max_dp_vs_fp32']:.2e} > {tol}")
    if not fig["max_dp_vs_loop"] <= RERANK_DP_LOOP_MAX:
        bad.append(f"reranker max |dP| varlen vs loop {fig['max_dp_vs_loop']:.2e} > {RERANK_DP_LOOP_MAX}")
    if fig["dtype"] == "bfloat16":  # ties within bf16's tolerance may swap (see ranking_consistent)
        if not fig["top10_consistent"]:
            bad.append(f"bf16 top-10 reorders documents more than {2 * tol} apart in fp32: "
                       f"{fig['top10_fast']} vs {fig['top10_ref']}")
    elif not fig["top10_same"]:
        bad.append(f"top-10 differs from fp32: {fig['top10_fast']} vs {fig['top10_ref']}")
    return bad


def fp32_embedding_check(model_dir, device: str) -> float:
    """Min cosine of the fp32 packed path (no varlen: fp32 runs the per-sequence loop) to the reference."""
    from .embedder import Embedder

    emb = Embedder.load(model_dir, device=device, dtype="float32")
    return float(cosine(emb.encode(TEXTS), reference_embed(model_dir, emb.tokenize(TEXTS))).min())


def fp32_rerank_check(model_dir, device: str) -> float:
    """Max |dP| of the fp32 reranker to the reference."""
    from .reranker import Reranker
    from ..config import DEFAULT_RERANK_INSTRUCTION

    rr = Reranker.load(model_dir, device=device, dtype="float32")
    pairs = [(q, d) for q in QUERIES for d in TEXTS]
    ref = reference_rerank(model_dir, rr._tok(pairs, DEFAULT_RERANK_INSTRUCTION)).numpy()
    return float(np.abs(rr.score_pairs(pairs) - ref).max())


def emulated_varlen(q, k, v, cu_q, cu_k, max_q, max_k, scale, rep, causal):
    """Per-sequence SDPA with varlen_attn's contract (CPU stand-in for the CUDA kernel)."""
    import torch.nn.functional as F

    outs = []
    for i in range(len(cu_q) - 1):
        qs, ks, vs = q[cu_q[i]:cu_q[i + 1]], k[cu_k[i]:cu_k[i + 1]], v[cu_k[i]:cu_k[i + 1]]
        assert qs.shape[0] <= max_q and ks.shape[0] <= max_k
        assert not causal or qs.shape[0] == ks.shape[0]  # the engine never relies on mask alignment
        o = F.scaled_dot_product_attention(
            qs.transpose(0, 1)[None], ks.repeat_interleave(rep, 1).transpose(0, 1)[None],
            vs.repeat_interleave(rep, 1).transpose(0, 1)[None], is_causal=causal, scale=scale)
        outs.append(o[0].transpose(0, 1))
    return torch.cat(outs)
