"""Embedding throughput: q3embed vs the README transformers path and sentence-transformers, one process.

Model: random weights in the exact Qwen3-Embedding-0.6B shape (speed does not depend on values).
Corpus: fixed-seed texts cut from SciFact with log-normal lengths (8-512 tokens), and optionally
a long-document setting (2K-8K tokens). Peers:

  a       README path: AutoModel fp32, left-padded batches in input order, last-token pool
  a_bf16, a_fp16  the same in bf16 / fp16 (fp16: the model card's GPU comparison)
  b       sentence-transformers encode, fastest settings it offers here (--half dtype, its length sorting)
  c       q3embed Embedder.load(dir) with its defaults
  c_auto  q3embed with dtype="auto" (bf16 on CPUs with native bf16)
  c_fp32, c_padded   q3embed forced to fp32 / to the padded path (to see where the gain comes from)
  c_int8  q3embed with quantize="int8" (opt-in int8 dynamic quantisation, fp32 activations)
  c_int8_bf16  the same over a bf16 model (bf16 activations), to choose int8's default activation dtype
  c_big   q3embed defaults but batch_size=512, max_batch_tokens=65536 (GPU batch size)
  ort_fp32, ort_int8, llama_f16, llama_q8_0, vllm   the other CPU engines (bench/cpu_peers.py)

Prints tokens/s, texts/s, peak RSS (GPU memory on CUDA), GFLOP/s on real tokens and the fraction
of bf16/fp32 matmul peaks measured in the same run, then the ratios c/a, c/a_bf16, c/b.

    python -m bench.embed_throughput --n-texts 48               # CPU, a few minutes when the CPU is free
    python -m bench.embed_throughput --device cuda --n-texts 4096 --long 16
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench import harness
from bench.cpu_peers import add_peer_arguments
from bench.engine_common import (PeakRSS, Result, gib, lognormal_lengths, make_texts, matmul_peak,
                           model_dir, print_ratios, print_table, scifact_corpus, sync, timed, useful_flops)

EOS = "<|endoftext|>"


def readme_path(path, device, dtype, batch_size, max_length=8192):
    """The Qwen3-Embedding README transformers code, batched in input order."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModel.from_pretrained(path, dtype=dtype).to(device).eval()

    def run(texts):
        out = []
        for s in range(0, len(texts), batch_size):
            batch = tok([t + EOS for t in texts[s:s + batch_size]], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt").to(device)
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state  # (B, T, H); left padding: last column is last token
            out.append(F.normalize(hidden[:, -1].float(), p=2, dim=1).cpu())
        return torch.cat(out).numpy()

    return run, model


def st_path(path, device, dtype, batch_size):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device=device, model_kwargs={"dtype": dtype})

    def run(texts):
        return model.encode([t + EOS for t in texts], batch_size=batch_size, convert_to_numpy=True,
                            normalize_embeddings=True).astype(np.float32)

    return run, model


def q3embed_path(path, device, dtype=None, packing=True, quantize=None, **encode_kw):
    from q3embed import Embedder

    emb = Embedder.load(path, device=device, dtype=dtype, quantize=quantize)
    emb.use_packing = packing

    def run(texts):
        return emb.encode(texts, **encode_kw)

    return run, emb


def build_peer(name, path, args):
    half = torch.float16 if args.half == "fp16" else torch.bfloat16
    if name in ("a", "a_bf16", "a_fp16"):
        dtype = {"a": torch.float32, "a_bf16": torch.bfloat16, "a_fp16": torch.float16}[name]
        return readme_path(path, args.device, dtype, args.readme_batch)
    if name == "b":
        return st_path(path, args.device, half, args.st_batch)
    if name == "c":
        return q3embed_path(path, None if args.device_default else args.device)
    if name == "c_auto":
        return q3embed_path(path, args.device, "auto")
    if name == "c_big":
        return q3embed_path(path, args.device, batch_size=512, max_batch_tokens=65536)
    if name == "c_fp32":
        return q3embed_path(path, args.device, torch.float32)
    if name == "c_int8":
        return q3embed_path(path, args.device, quantize="int8")
    if name == "c_int8_bf16":
        return q3embed_path(path, args.device, torch.bfloat16, quantize="int8")
    if name == "c_padded":
        return q3embed_path(path, None if args.device_default else args.device, packing=False)
    from bench.cpu_peers import PEERS, build_cpu_peer

    if name in PEERS:
        return build_cpu_peer(name, path, args, args.readme_batch)
    raise ValueError(f"unknown peer {name!r}; accepted: a, a_bf16, a_fp16, b, c, c_auto, c_fp32, c_int8, c_int8_bf16, c_padded, c_big, "
                     "ort_fp32, ort_int8, llama_f16, llama_q8_0, vllm")


def measure(names, path, texts, lengths, config, args, label):
    results, vectors = [], {}
    for name in names:
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        with PeakRSS() as rss:
            before = rss.peak
            run, holder = build_peer(name, path, args)
            load = os.getloadavg()[0]
            if getattr(holder, "external_timing", False):  # its own venv: it warms up and times itself
                vectors[name], seconds, cpu, counted = holder.measure(texts, max(lengths) + 8)
                if counted != sum(lengths):
                    print(f"  note: {name} counted {counted} tokens, q3embed's tokenizer {sum(lengths)}")
            else:
                run(["a short warm-up text", "and a second one"])  # first-call allocations, kernel selection
                sync(args.device)
                seconds, cpu = timed(args.device, lambda: vectors.__setitem__(name, run(texts)), args.repeat)
        gpu = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else 0
        r = Result(f"{label}:{name}", seconds, len(texts), sum(lengths), useful_flops(config, lengths), rss.peak, gpu,
                   cpu_seconds=cpu)
        results.append(r)
        print(f"  {r.name:28s} {seconds:8.2f} s (CPU {cpu:.1f} s, load {load:.0f}->{os.getloadavg()[0]:.0f})  "
              f"{r.tokens_per_s:9.1f} tok/s  peak RSS {gib(rss.peak)} "
              f"(process before loading: {gib(before)})", flush=True)
        del run, holder
    ref = "a" if "a" in vectors else "c_fp32" if "c_fp32" in vectors else None  # the fp32 references
    if ref:
        for name, v in vectors.items():
            a = vectors[ref]
            cos = (v * a).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(a, axis=1)
            print(f"  cosine {name} vs {ref}: min {cos.min():.6f}  mean {cos.mean():.6f}")
    return results


def main():
    p = harness.parser("embed_throughput", __doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--device-default", action="store_true", help="let q3embed pick the device itself for c")
    p.add_argument("--n-texts", type=int, default=48)
    p.add_argument("--min-tokens", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--long", type=int, default=0, help="also a long-document setting with this many 2K-8K docs")
    p.add_argument("--peers", default="a,a_bf16,b,c")
    p.add_argument("--long-peers", default="a_bf16,c")
    p.add_argument("--half", choices=["bf16", "fp16"], default="bf16", help="dtype of the a_bf16 and b peers")
    p.add_argument("--readme-batch", type=int, default=16)
    p.add_argument("--st-batch", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--corpus", type=Path, default=None, help="jsonl with 'text' to cut texts from (default: DATA/scifact/corpus.jsonl, else random token ids)")
    p.add_argument("--tokenizer-dir", type=Path, default=None)
    add_peer_arguments(p)
    args = harness.setup(p.parse_args())
    args.cache = args.work  # the random 0.6B-shape checkpoint and the peers' exported models
    args.corpus = args.corpus or scifact_corpus(args.data)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if os.environ.get("MALLOPT") == "1":  # the q3embed command's allocator settings, for this whole process
        from q3embed.runtime.allocator import keep_freed_memory

        print(f"MALLOPT=1: keep_freed_memory() -> {keep_freed_memory()}", flush=True)

    from transformers import AutoConfig, AutoTokenizer

    from q3embed.model.cpu import describe_cpu

    path = model_dir(args.cache, "embedding", args.tokenizer_dir)
    config = AutoConfig.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    print(f"device {args.device}; torch {torch.__version__}; threads {torch.get_num_threads()}; {describe_cpu()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.device.startswith("cuda"):
        print(f"GPU {torch.cuda.get_device_name()}")
    peaks = {"bf16": matmul_peak(args.device, torch.bfloat16), "fp32": matmul_peak(args.device, torch.float32)}
    print(f"matmul peak: bf16 {peaks['bf16']:.0f} GFLOP/s, fp32 {peaks['fp32']:.0f} GFLOP/s", flush=True)
    print(f"model: {config.num_hidden_layers} layers, width {config.hidden_size}, vocab {config.vocab_size}")

    size_fp32 = sum(f.stat().st_size for f in Path(path).glob("*.safetensors")) * 2  # stored in bf16
    print(f"model weights: {gib(size_fp32)} fp32, {gib(size_fp32 / 2)} bf16")

    figures: dict[str, float] = {}
    if args.n_texts:  # 0 skips the mixed-length setting (e.g. to measure long documents alone)
        lengths_target = lognormal_lengths(args.n_texts, args.min_tokens, args.max_tokens)
        texts = make_texts(tok, lengths_target, args.corpus)
        lengths = [len(r) for r in tok([t + EOS for t in texts], add_special_tokens=False)["input_ids"]]
        print(f"\nmixed corpus: {len(texts)} texts, {sum(lengths)} tokens, median {int(np.median(lengths))}, "
              f"max {max(lengths)}; padding waste of one padded batch {len(texts) * max(lengths) / sum(lengths):.2f}x")
        results = measure(args.peers.split(","), path, texts, lengths, config, args, "mixed")
        print_table(results, peaks)
        pairs = [("mixed:c", "mixed:a"), ("mixed:c", "mixed:a_bf16"), ("mixed:c", "mixed:a_fp16"),
                 ("mixed:c", "mixed:b"), ("mixed:c_auto", "mixed:a"), ("mixed:c_auto", "mixed:a_bf16"),
                 ("mixed:c_auto", "mixed:b"), ("mixed:c_big", "mixed:a_fp16"), ("mixed:c_big", "mixed:b"),
                 ("mixed:c", "mixed:c_padded"), ("mixed:c", "mixed:c_fp32"),
                 ("mixed:c_int8", "mixed:a"), ("mixed:c_int8", "mixed:c_fp32"), ("mixed:c_int8", "mixed:c"),
                 ("mixed:c_int8", "mixed:c_int8_bf16")]
        pairs += [(f"mixed:{q}", f"mixed:{peer}") for q in ("c", "c_int8")
                  for peer in ("ort_fp32", "ort_int8", "llama_f16", "llama_q8_0", "vllm")]
        figures |= print_ratios(results, pairs)

    if args.long:
        long_target = np.random.default_rng(2).integers(2048, 8192, args.long).tolist()
        long_target[0] = 8000  # the 8K case is always there
        long_texts = make_texts(tok, long_target, args.corpus)
        long_lengths = [len(r) for r in tok([t + EOS for t in long_texts], add_special_tokens=False)["input_ids"]]
        print(f"\nlong documents: {len(long_texts)} docs, {sum(long_lengths)} tokens, max {max(long_lengths)}")
        long_results = measure(args.long_peers.split(","), path, long_texts, long_lengths, config, args, "long")
        print_table(long_results, peaks)
        print(f"model weights {gib(size_fp32)} fp32 / {gib(size_fp32 / 2)} bf16: compare with the peak RSS above")
        figures |= print_ratios(long_results, [("long:c", "long:a"), ("long:c", "long:a_bf16"), ("long:c", "long:a_fp16"),
                                               ("long:c", "long:b"), ("long:c_auto", "long:a_bf16")])

    harness.finish(args, figures, dtype="q3embed default (the checkpoint's bf16 on native-bf16 CPUs) and each peer's own",
                   device=args.device)


if __name__ == "__main__":
    main()
