"""The Qwen3-VL section of bench/gpu_suite.py: images/s and tokens/s for the 2B shape, and half-precision
parity against fp32.

Random weights in the real Qwen3-VL-Embedding-2B / Reranker-2B shape (model.tiny_vl, shape "2B"); the
dry run (``Context.dry``) takes the tiny shape on CPU. Figures:

- ``throughput``: document-page-like images (1000 x 1400 pixels, resized by the model's rule to
  at most 1,843,200 pixels: about 1,350 vision tokens each) embedded in batches, in the card's
  half precision (bf16; fp16 too): images/s and tokens/s, vision tokens included;
- ``parity``: the same mixed batch (text, image, text + image, two images) in fp32 and in
  bf16/fp16, cosine min per precision; reranker P(yes) max |diff| for text/image pairs. fp32 itself
  equals the official code (tests/engine/test_vl_parity.py, docs/multimodal.md). A cosine below
  0.99 is a problem (a failed section).
"""

from __future__ import annotations

import numpy as np
import torch

from bench.gpu_sections import Context, free, peak_gpu_gib, say, tokenizer_dir
from bench.engine_common import timed

PARITY_MIN_COSINE = 0.99


def _checkpoint(ctx: Context, kind: str):
    from q3embed.model.tiny_vl import save_tiny_qwen3_vl

    shape = "tiny" if ctx.dry else "2B"
    out = ctx.work / f"vl-{kind}-{shape}"
    if not (out / "config.json").exists():
        save_tiny_qwen3_vl(out, kind=kind, shape=shape, seed=0 if kind == "embedding" else 1,
                           tokenizer_dir=tokenizer_dir(ctx), dtype=None if ctx.dry else torch.bfloat16)
    return out


def _images(n: int, w: int, h: int):
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")) for _ in range(n)]


def section_vl(ctx: Context):
    from q3embed import Embedder, Reranker

    emb_dir, rr_dir = _checkpoint(ctx, "embedding"), _checkpoint(ctx, "reranker")
    a, b = _images(2, 200, 120) if ctx.dry else _images(2, 900, 600)
    mixed = ["a red bicycle", {"image": a}, {"text": "a caption", "image": b}, {"images": [a, b]}]
    halves = ["bfloat16"] if ctx.dry else ["bfloat16", "float16"]
    fig, problems = {"parity": {}, "throughput": {}}, []

    ref = Embedder.load(emb_dir, device=ctx.device, dtype="float32")
    want = ref.encode(mixed)
    del ref
    for dtype in halves:
        free(ctx.device)
        emb = Embedder.load(emb_dir, device=ctx.device, dtype=dtype)
        cos = float((emb.encode(mixed) * want).sum(1).min())
        fig["parity"][f"embedding_{dtype}_cos_min"] = round(cos, 6)
        if cos < PARITY_MIN_COSINE:
            problems.append(f"VL embedding in {dtype}: cosine {cos:.4f} to fp32 < {PARITY_MIN_COSINE}")
        n = 4 if ctx.dry else 64
        pages = _images(n, 250, 350) if ctx.dry else _images(n, 1000, 1400)
        rows = emb.prepare([{"image": p} for p in pages])
        tokens = sum(len(r) for r in rows)
        emb.encode([{"image": p} for p in pages[:2]], batch_size=2)  # warm-up
        seconds, _ = timed(ctx.device, lambda: emb.encode([{"image": p} for p in pages], batch_size=8,
                                                          max_batch_tokens=None), 1)
        row = {"images": n, "tokens": tokens, "seconds": round(seconds, 3), "images_per_s": round(n / seconds, 2),
               "tokens_per_s": round(tokens / seconds, 1), "peak_gpu_gib": round(peak_gpu_gib(ctx.device), 2)}
        fig["throughput"][dtype] = row
        say(f"  VL embed {dtype}: {row['images_per_s']} images/s, {row['tokens_per_s']} tokens/s")
        del emb

    free(ctx.device)
    docs = [{"image": a}, {"text": "a caption", "image": b}, "plain text"]
    rr = Reranker.load(rr_dir, device=ctx.device, dtype="float32")
    p32 = rr.score("a red bicycle", docs)
    del rr
    for dtype in halves:
        free(ctx.device)
        rr = Reranker.load(rr_dir, device=ctx.device, dtype=dtype)
        diff = float(np.abs(rr.score("a red bicycle", docs) - p32).max())
        fig["parity"][f"reranker_{dtype}_max_abs_diff"] = round(diff, 6)
        del rr
    return fig, problems
