"""Techniques the issue asked to try, measured on the packed forward in one process: keep what wins.

Model: random weights in the exact Qwen3-Embedding-0.6B shape (bench/.cache). Corpus: the same
fixed-seed log-normal texts as embed_throughput.py. Variants, each on the same packed batches:

  eager      q3embed as shipped (packed forward, per-sequence causal SDPA)
  compiled   the same, with torch.compile(dynamic=True) on every decoder layer's MLP and norms
             (the element-wise work around the matmuls: SiLU * up, RMSNorm); the attention loop
             stays eager because its shapes change per sequence
  attention  the share of the eager forward spent inside scaled_dot_product_attention
             (torch.profiler), i.e. the most that any attention kernel variant could save

Two probes that need no 0.6B model (``--probes``):

  gqa        one causal SDPA call with Qwen3-0.6B's heads (16 query, 8 kv, head dim 128):
             kv heads copied with repeat_interleave vs SDPA's own enable_gqa
  int8-batch a tiny random Qwen3: max |difference| between texts embedded alone and in one
             packed batch, under torch's quantize_dynamic (one activation scale per call) and
             under q3embed's quantize="int8" (torchao, per-token scales)

    python bench/engine_variants.py --threads 1 --n-texts 24 [--dtype bfloat16]
    python bench/engine_variants.py --threads 1 --probes gqa,int8-batch
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


def gqa_probe() -> None:
    import torch.nn.functional as F

    for dtype in (torch.bfloat16, torch.float32):
        for T in (96, 400):
            q = torch.randn(1, 16, T, 128, dtype=dtype)
            k, v = torch.randn(1, 8, T, 128, dtype=dtype), torch.randn(1, 8, T, 128, dtype=dtype)
            variants = {
                "repeat": lambda: F.scaled_dot_product_attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1),
                                                                 is_causal=True),
                "gqa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
            }
            us = {}
            for name, f in variants.items():
                f()
                t0 = time.process_time()
                for _ in range(200):
                    f()
                us[name] = (time.process_time() - t0) / 200 * 1e6
            diff = (variants["repeat"]() - variants["gqa"]()).abs().max().item()
            print(f"gqa probe {str(dtype).removeprefix('torch.'):8s} T={T:3d}: repeat_interleave {us['repeat']:7.0f} us, "
                  f"enable_gqa {us['gqa']:7.0f} us ({us['repeat'] / us['gqa']:.3f}x), max |diff| {diff:.1e}", flush=True)


def int8_batch_probe() -> None:
    import tempfile
    import warnings

    from q3embed import Embedder
    from q3embed.model.tiny import save_tiny_qwen3

    texts = ["A man is playing a guitar.", "The cat sleeps on the warm windowsill.",
             "Stock markets fell sharply after the announcement.", "Vitamin D deficiency is linked to bone loss.",
             "Two dogs run across a snowy field.", "Quantum computers use qubits instead of bits."]
    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny_qwen3(tmp)
        old = Embedder.load(path, device="cpu", dtype="float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch.ao.quantization import quantize_dynamic

            quantize_dynamic(old.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        new = Embedder.load(path, device="cpu", quantize="int8")
        for name, emb in (("torch quantize_dynamic", old), ('q3embed quantize="int8"', new)):
            together = emb.encode(texts)
            alone = np.stack([emb.encode(t) for t in texts])
            print(f"int8-batch probe, {name}: max |alone - in batch| = {np.abs(together - alone).max():.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-texts", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--dtype", default=None, help="compute dtype (default: q3embed's default)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--probes", default=None, help="run only these probes: gqa, int8-batch (comma-separated)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.probes:
        probes = {"gqa": gqa_probe, "int8-batch": int8_batch_probe}
        for name in args.probes.split(","):
            if name not in probes:
                raise SystemExit(f"unknown probe {name!r}; accepted: {', '.join(probes)}")
            probes[name]()
        return
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
