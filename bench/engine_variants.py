"""Techniques the issue asked to try, measured on the packed forward in one process: keep what wins.

Model: random weights in the exact Qwen3-Embedding-0.6B shape (bench/.cache). Corpus: the same
fixed-seed log-normal texts as embed_throughput.py. Variants, each on the same packed batches:

  eager      q3embed as shipped (packed forward, per-sequence causal SDPA)
  compiled   the same, with torch.compile(dynamic=True) on every decoder layer's MLP and norms
             (the element-wise work around the matmuls: SiLU * up, RMSNorm); the attention loop
             stays eager because its shapes change per sequence
  attention  the share of the eager forward spent inside scaled_dot_product_attention
             (torch.profiler), i.e. the most that any attention kernel variant could save

    python bench/engine_variants.py --threads 1 --n-texts 24 [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from engine_common import DEFAULT_CACHE, lognormal_lengths, make_texts, model_dir


def timed_encode(emb, texts, repeat: int) -> tuple[float, np.ndarray]:
    emb.encode(texts[:4])  # warm-up (and compilation for the compiled variant)
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = emb.encode(texts)
        best = min(best, time.process_time() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-texts", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--dtype", default=None, help="compute dtype (default: q3embed's default)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer

    from q3embed import Embedder

    path = model_dir(DEFAULT_CACHE, "embedding")
    tok = AutoTokenizer.from_pretrained(path)
    texts = make_texts(tok, lognormal_lengths(args.n_texts, 8, args.max_tokens), None)
    emb = Embedder.load(path, device="cpu", dtype=args.dtype)
    n_tok = sum(len(r) for r in emb.tokenize(texts))
    print(f"{len(texts)} texts, {n_tok} tokens, dtype {emb.dtype}, threads {torch.get_num_threads()}", flush=True)

    eager_s, eager_v = timed_encode(emb, texts, args.repeat)
    print(f"eager     {eager_s:7.2f} CPU s  {n_tok / eager_s:7.1f} tok/CPU s", flush=True)

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        emb.encode(texts)
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    sdpa = sum(e.cpu_time_total for e in prof.key_averages() if e.key == "aten::scaled_dot_product_attention")
    mm = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm", "aten::linear"))
    print(f"attention share of the eager forward: {100 * sdpa / total:.1f}%  (matmuls, self time: "
          f"{100 * mm / total:.1f}%)", flush=True)

    for layer in emb.model.layers:
        for m in (layer.mlp, layer.input_layernorm, layer.post_attention_layernorm):
            m.compile(dynamic=True)
    t0 = time.perf_counter()
    emb.encode(texts[:4])
    print(f"compilation took {time.perf_counter() - t0:.0f} s wall", flush=True)
    comp_s, comp_v = timed_encode(emb, texts, args.repeat)
    cos = (comp_v * eager_v).sum(1).min()
    print(f"compiled  {comp_s:7.2f} CPU s  {n_tok / comp_s:7.1f} tok/CPU s  (min cosine to eager {cos:.6f})")
    print(f"ratio compiled / eager: {eager_s / comp_s:.3f}x")


if __name__ == "__main__":
    main()
