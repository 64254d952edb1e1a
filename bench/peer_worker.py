"""Runs one embedding or reranking peer inside its own virtual environment, driven by bench/cpu_peers.py.

Peers that cannot live beside transformers 5 / torch 2.13 (llama-cpp-python, vLLM's CPU build)
get the same inputs and thread count through a JSON file and return their results through .npy.
It imports neither torch nor q3embed itself (vLLM brings its own torch).

    python peer_worker.py --engine llama --model m.gguf --threads 1 --input in.json --output out.npy

Input JSON: {"task": "embed", "texts": [...], "max_tokens": n} -> (N, H) unit vectors, or
{"task": "rerank", "pairs": [[q, d], ...], "prompts": [...] (llama) | "template": jinja (vLLM),
"max_tokens": n} -> (N,) P(yes). Prints one JSON line: {"wall": s, "cpu": s, "tokens": n, "note": ..}
of the timed pass (after one warm-up); "cpu" counts this process and its children (psutil where
installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds of (this process, its children): vLLM computes in an engine-core child process."""
    try:
        import psutil
    except ImportError:
        return time.process_time(), 0.0
    me = psutil.Process()
    own, children = 0.0, 0.0
    for proc in [me] + me.children(recursive=True):
        try:
            t = proc.cpu_times()
            if proc.pid == me.pid:
                own += t.user + t.system
            else:
                children += t.user + t.system
        except psutil.Error:
            pass
    return own, children


def llama_runner(model: str, threads: int, spec: dict):
    import llama_cpp
    from llama_cpp import Llama

    rerank = spec.get("task") == "rerank"
    n = 1 << (int(spec["max_tokens"]) - 1).bit_length()  # one sequence must fit a batch
    n = max(n, 2048)
    pooling = llama_cpp.LLAMA_POOLING_TYPE_RANK if rerank else llama_cpp.LLAMA_POOLING_TYPE_LAST
    llm = Llama(model_path=model, embedding=True, n_ctx=n, n_batch=n, n_ubatch=n, n_threads=threads,
                n_threads_batch=threads, pooling_type=pooling, verbose=False)
    plain = llm.tokenize

    def tokenize(text: bytes, add_bos: bool = True, special: bool = False):
        # parse "<|endoftext|>" / the reranker template's "<|im_start|>" ... as the special tokens they are
        return plain(text, add_bos, True)

    llm.tokenize = tokenize
    counted = {"tokens": 0, "note": ""}
    if not rerank:
        def run(texts):
            counted["tokens"] = sum(len(tokenize(t.encode())) for t in texts)
            return np.asarray(llm.embed(texts, normalize=True), dtype=np.float32)

        return run, counted, spec["texts"]

    # RANK pooling: llama_get_embeddings_seq gives float[n_cls_out] per sequence, not n_embd floats,
    # so Llama.embed (which reads n_embd) cannot be used; the same batching loop, reading the labels.
    n_out = llama_cpp.llama_model_n_cls_out(llm.model)
    labels = [(llama_cpp.llama_model_cls_label(llm.model, i) or b"").decode() for i in range(n_out)]
    if "yes" not in labels:
        raise SystemExit(f"this GGUF has no 'yes' classifier output (labels {labels}): not a Qwen3-Reranker conversion")
    yes = labels.index("yes")
    counted["note"] = f"classifier outputs {labels} (P(yes) read from output {yes})"
    n_seq_max = llm.context_params.n_seq_max

    def run(prompts):
        rows = [tokenize(p.encode()) for p in prompts]
        counted["tokens"] = sum(map(len, rows))
        out, seqs, used = [], 0, 0

        def flush(k):
            llm._ctx.kv_cache_clear()
            llm._ctx.decode(llm._batch)
            llm._batch.reset()
            for i in range(k):
                out.append(llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, i)[:n_out][yes])

        llm._batch.reset()
        for ids in rows:
            if used + len(ids) > n or seqs >= n_seq_max:
                flush(seqs)
                seqs, used = 0, 0
            llm._batch.add_sequence(ids, seqs, True)  # embedding mode: every token an output, as Llama.embed
            seqs, used = seqs + 1, used + len(ids)
        flush(seqs)
        return np.asarray(out, dtype=np.float32)

    return run, counted, spec["prompts"]


def vllm_runner(model: str, threads: int, spec: dict):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0" if threads == 1 else f"0-{threads - 1}")
    from vllm import LLM

    rerank = spec.get("task") == "rerank"
    # Qwen3-Reranker settings from vLLM's docs (examples/pooling/score/qwen3_reranker_offline.py): the
    # causal LM read as a sequence classifier over the "no"/"yes" rows, P(yes) by a 2-way softmax.
    overrides = dict(hf_overrides={"architectures": ["Qwen3ForSequenceClassification"],
                                   "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": True}
                     ) if rerank else {}
    llm = LLM(model=model, runner="pooling", dtype="bfloat16", max_model_len=max(int(spec["max_tokens"]), 1024),
              enforce_eager=True, seed=0, **overrides)
    counted = {"tokens": 0, "note": ""}
    if not rerank:
        def run(texts):
            outs = llm.embed(texts, use_tqdm=False)
            counted["tokens"] = sum(len(o.prompt_token_ids) for o in outs)
            v = np.asarray([o.outputs.embedding for o in outs], dtype=np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        return run, counted, spec["texts"]

    def run(pairs):
        outs = llm.score([q for q, _ in pairs], [d for _, d in pairs], chat_template=spec["template"], use_tqdm=False)
        counted["tokens"] = sum(len(o.prompt_token_ids) for o in outs)
        cached = sum(getattr(o, "num_cached_tokens", 0) or 0 for o in outs)
        counted["note"] = f"{counted['tokens']} prompt tokens, {cached} of them from vLLM's prefix cache"
        return np.asarray([o.outputs.score for o in outs], dtype=np.float32)

    return run, counted, spec["pairs"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=["llama", "vllm"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--input", required=True, help="JSON: {texts: [...], max_tokens: n}")
    p.add_argument("--output", required=True, help=".npy for the (N, H) float32 vectors")
    args = p.parse_args()
    spec = json.loads(open(args.input).read())
    make = llama_runner if args.engine == "llama" else vllm_runner
    run, counted, inputs = make(args.model, args.threads, spec)
    run(inputs[:2])  # warm-up
    t, (own, kids) = time.perf_counter(), cpu_seconds()
    result = run(inputs)
    (own2, kids2), wall = cpu_seconds(), time.perf_counter() - t
    np.save(args.output, result)
    note = counted["note"] + (f"; CPU s: this process {own2 - own:.1f}, children {kids2 - kids:.1f}" if kids2 else "")
    print(json.dumps({"wall": wall, "cpu": own2 - own + kids2 - kids, "tokens": counted["tokens"], "note": note}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
