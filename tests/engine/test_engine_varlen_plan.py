"""The CUDA varlen bookkeeping (cu_seqlens, prefix gather, query placement), checked on CPU.

The varlen kernel itself needs CUDA; here it is replaced by a per-sequence SDPA emulation
with the same contract, so the index arithmetic around it is tested on every run.
"""

from __future__ import annotations

import torch

from q3embed.engine.gpu_checks import emulated_varlen
from q3embed.runtime.fast_qwen3 import PackedQwen3
from q3embed.runtime.packing import common_prefix_length, pack


def _rows():
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, 150_000, (20,), generator=g).tolist()
    return [prompt + torch.randint(0, 150_000, (n,), generator=g).tolist() for n in (1, 7, 30, 3)]


def test_varlen_bookkeeping_matches_loop(tiny_reranker):
    loop = PackedQwen3(tiny_reranker.model)
    varlen = PackedQwen3(tiny_reranker.model)
    varlen._varlen = emulated_varlen
    rows = _rows()
    with torch.inference_mode():
        plain = loop.last_hidden(pack(rows))
        assert (varlen.last_hidden(pack(rows)) - plain).abs().max() < 1e-5
        n = common_prefix_length(rows)
        assert n == 20
        tails = pack([r[n:] for r in rows], "cpu", [n] * 4, [0] * 4)
        with_prefix = varlen.last_hidden(tails, varlen.prefix_cache([rows[0][:n]]))
        assert (with_prefix - plain).abs().max() < 1e-5
        assert varlen._varlen is emulated_varlen  # no silent fallback happened
