"""Reranking throughput: q3embed vs the official Qwen3-Reranker example path, one process.

Model: random weights in the exact Qwen3-Reranker-0.6B shape. Settings: 1 query x N documents
and Q queries x N documents (the paper reranks the top 100). Peers:

  official       the model card's code: AutoModelForCausalLM, left-padded batches in input order,
                 full logits (B, T, V), log_softmax over [no, yes]; fp32 (--official-dtype to change)
  official_half  the same in bf16/fp16 (--half)
  c              q3embed Reranker.load(dir) defaults: packed forward, each query's prompt once, 2 head rows
  c_auto         q3embed with dtype="auto" (bf16 on CPUs with native bf16)
  c_padded       q3embed on its padded path (use_packing=False), to separate the gains
  c_fp32         q3embed forced to fp32 (the default is bf16 on CPUs with native bf16: the checkpoint is bf16)
  c_int8         q3embed with quantize="int8"
  ort_fp32, ort_int8, llama_f16, llama_q8_0, vllm   the other CPU engines (bench/cpu_peers.py),
                 on q3embed's prompt strings; the subprocess peers (llama, vllm) time themselves

Reports pairs/s and document tokens/s (per CPU second too), the ratios of CPU time against the
official code and against q3embed's default (c) and int8 (c_int8), and max |dP| against the
official fp32 code and against q3embed fp32 (c_fp32).

    python -m bench.rerank_throughput --docs 100 --queries 1          # CPU
    python -m bench.rerank_throughput --device cuda --docs 100 --queries 1,10 --half fp16
"""

from __future__ import annotations

import os
import gc
import json
from pathlib import Path

import numpy as np
import torch

from bench import harness
from bench.cpu_peers import PEERS, add_peer_arguments, build_cpu_peer, rerank_prompts
from bench.engine_common import (PeakRSS, gib, lognormal_lengths, make_texts, matmul_peak, model_dir, scifact_corpus,
                                 sync, timed)

INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
          'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def official_path(path, device, dtype, batch_size):
    """The Qwen3-Reranker model-card code, batched in input order."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    no_id, yes_id = tok.convert_tokens_to_ids("no"), tok.convert_tokens_to_ids("yes")
    prefix, suffix = tok.encode(PREFIX, add_special_tokens=False), tok.encode(SUFFIX, add_special_tokens=False)

    def run(pairs):
        out = []
        for s in range(0, len(pairs), batch_size):
            texts = [f"<Instruct>: {INSTRUCTION}\n<Query>: {q}\n<Document>: {d}" for q, d in pairs[s:s + batch_size]]
            enc = tok(texts, padding=False, truncation="longest_first", return_attention_mask=False,
                      max_length=8192 - len(prefix) - len(suffix))
            enc["input_ids"] = [prefix + ids + suffix for ids in enc["input_ids"]]
            enc = tok.pad(enc, padding=True, return_tensors="pt").to(device)
            with torch.no_grad():
                logits = model(**enc).logits[:, -1, :]  # full (B, T, V) logits computed, last row kept
            two = torch.stack([logits[:, no_id], logits[:, yes_id]], dim=1).float()
            out.append(torch.log_softmax(two, dim=1)[:, 1].exp().cpu())
        return torch.cat(out).numpy()

    return run, model


def q3embed_path(path, device, batch_size, packing=True, dtype=None, quantize=None):
    from q3embed import Reranker

    rr = Reranker.load(path, device=device, dtype=dtype, quantize=quantize)
    rr.use_packing = packing

    def run(pairs):
        return rr.score_pairs(pairs, batch_size=batch_size)

    return run, rr


def load_queries(n: int, corpus: Path | None) -> list[str]:
    path = corpus.parent / "queries.jsonl" if corpus else None
    if path is not None and path.exists():
        with open(path) as fh:
            qs = [json.loads(line)["text"] for _, line in zip(range(n), fh)]
        if len(qs) == n:
            return qs
    return [f"query number {i} about cell biology and gene expression" for i in range(n)]


def main():
    p = harness.parser("rerank_throughput", __doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--queries", default="1", help="comma-separated settings, e.g. 1,10")
    p.add_argument("--docs", type=int, default=100)
    p.add_argument("--doc-median", type=float, default=160.0, help="median document length in tokens")
    p.add_argument("--doc-max", type=int, default=512)
    p.add_argument("--peers", default="official,c")
    p.add_argument("--half", choices=["bf16", "fp16"], default="bf16")
    p.add_argument("--official-dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--official-batch", type=int, default=16)
    p.add_argument("--batch", type=int, default=16, help="q3embed batch_size")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--corpus", type=Path, default=None)
    p.add_argument("--tokenizer-dir", type=Path, default=None)
    p.add_argument("--save-scores", type=Path, default=None,
                   help="write every peer's P(yes) to this .npz (key: <queries>x<docs>:<peer>), to compare runs")
    add_peer_arguments(p)
    args = harness.setup(p.parse_args())
    args.cache = args.work  # the random 0.6B-shape checkpoint and the peers' exported models
    args.corpus = args.corpus or scifact_corpus(args.data)
    saved = {}
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    from transformers import AutoTokenizer

    from q3embed.model.cpu import describe_cpu

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    path = model_dir(args.cache, "reranker", args.tokenizer_dir)
    tok = AutoTokenizer.from_pretrained(path)
    print(f"device {args.device}; torch {torch.__version__}; threads {torch.get_num_threads()}; {describe_cpu()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    peaks = {"bf16": matmul_peak(args.device, torch.bfloat16), "fp32": matmul_peak(args.device, torch.float32)}
    print(f"matmul peak: bf16 {peaks['bf16']:.0f} GFLOP/s, fp32 {peaks['fp32']:.0f} GFLOP/s", flush=True)

    figures: dict[str, float] = {}
    for n_q in [int(x) for x in args.queries.split(",")]:
        queries = load_queries(n_q, args.corpus)
        lengths = lognormal_lengths(args.docs * n_q, 16, args.doc_max, seed=3, median=args.doc_median)
        docs = make_texts(tok, lengths, args.corpus)
        pairs = [(queries[i // args.docs], d) for i, d in enumerate(docs)]
        print(f"\n{n_q} x {args.docs}: {len(pairs)} pairs, document tokens {sum(lengths)} (median "
              f"{int(np.median(lengths))}, max {max(lengths)})")
        doc_tokens = sum(lengths)
        rows, scores = [], {}
        for name in args.peers.split(","):
            gc.collect()
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            with PeakRSS() as rss:
                if name in ("official", "official_half"):
                    dt = dtypes[args.official_dtype] if name == "official" else dtypes[args.half]
                    run, holder = official_path(path, args.device, dt, args.official_batch)
                elif name in ("c", "c_padded", "c_auto", "c_fp32", "c_int8"):
                    dtype = {"c_auto": "auto", "c_fp32": "float32"}.get(name)
                    run, holder = q3embed_path(path, args.device, args.batch, packing=name != "c_padded",
                                               dtype=dtype, quantize="int8" if name == "c_int8" else None)
                elif name in PEERS:
                    run, holder = build_cpu_peer(name, path, args, args.batch, task="rerank")
                else:
                    raise SystemExit(f"unknown peer {name!r}; accepted: official, official_half, c, c_auto, c_fp32, "
                                     f"c_int8, c_padded, {', '.join(PEERS)}")
                load = os.getloadavg()[0]
                if getattr(holder, "external_timing", False):  # its own venv: it warms up and times itself
                    scores[name], seconds, cpu, counted = holder.measure_rerank(pairs, max(lengths) + 256)
                    want = sum(len(r) for r in tok(rerank_prompts(pairs))["input_ids"])
                    print(f"  {name}: {counted} prompt tokens counted by the peer, {want} in q3embed's prompts")
                else:
                    run(pairs[:2])  # warm-up
                    seconds, cpu = timed(args.device, lambda: scores.__setitem__(name, run(pairs)), args.repeat)
            gpu = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else 0
            rows.append((name, seconds, cpu))
            saved[f"{n_q}x{args.docs}:{name}"] = scores[name]
            if args.save_scores:  # after every peer, so that a run cut short keeps what it measured
                np.savez(args.save_scores, **saved)
            print(f"  {name:14s} {seconds:8.2f} s (CPU {cpu:.1f} s, load {load:.0f}->{os.getloadavg()[0]:.0f})  "
                  f"{len(pairs) / seconds:8.2f} pairs/s  {len(pairs) / cpu:6.2f} pairs/CPU s  "
                  f"{doc_tokens / cpu:7.1f} doc tok/CPU s  peak RSS {gib(rss.peak)}"
                  + (f"  GPU {gib(gpu)}" if gpu else ""), flush=True)
            del run, holder
        by = {name: (s, c) for name, s, c in rows}
        for name in scores:
            for ref in ("official", "official_half", "c_fp32"):
                if name != ref and ref in scores and not (name.startswith("official") and ref.startswith("official")):
                    d = np.abs(scores[name] - scores[ref])
                    top = lambda s: list(np.argsort(-s[: args.docs], kind="stable")[:10])  # noqa: E731
                    print(f"  {name} vs {ref}: max |dP| {d.max():.2e}; same top-10 of query 0: "
                          f"{top(scores[name]) == top(scores[ref])}")
        for num in ("c", "c_auto", "c_fp32", "c_int8", "c_padded"):
            for den in ("official", "official_half"):
                if num in by and den in by:
                    print(f"  ratio {num} / {den} ({n_q}x{args.docs}): {by[den][0] / by[num][0]:.2f}x wall, "
                          f"{by[den][1] / by[num][1]:.2f}x CPU time")
                    figures[f"{num} / {den} ({n_q}x{args.docs}), CPU time"] = round(by[den][1] / by[num][1], 2)
        for num in ("c", "c_int8"):
            for den in PEERS:
                if num in by and den in by:
                    print(f"  ratio {num} / {den} ({n_q}x{args.docs}): {by[den][0] / by[num][0]:.2f}x wall, "
                          f"{by[den][1] / by[num][1]:.2f}x CPU time")
                    figures[f"{num} / {den} ({n_q}x{args.docs}), CPU time"] = round(by[den][1] / by[num][1], 2)
        sync(args.device)
    harness.finish(args, figures, dtype="q3embed default (the checkpoint's bf16 on native-bf16 CPUs) and each peer's own",
                   device=args.device)


if __name__ == "__main__":
    main()
