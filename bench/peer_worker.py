"""Runs one embedding peer inside its own virtual environment, driven by bench/cpu_peers.py.

Peers that cannot live beside transformers 5 / torch 2.13 (llama-cpp-python, vLLM's CPU build)
get the same texts and thread count through a JSON file and return vectors through .npy. It
imports neither torch nor q3embed itself (vLLM brings its own torch).

    python peer_worker.py --engine llama --model m.gguf --threads 1 --input in.json --output out.npy

Prints one JSON line: {"wall": s, "cpu": s, "tokens": n} of the timed pass (after one warm-up);
"cpu" counts this process and its children (psutil where installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def cpu_seconds() -> float:
    """CPU seconds of this process and its children (vLLM computes in worker processes)."""
    try:
        import psutil
    except ImportError:
        return time.process_time()
    me = psutil.Process()
    total = 0.0
    for proc in [me] + me.children(recursive=True):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def llama_runner(model: str, threads: int, max_tokens: int):
    import llama_cpp
    from llama_cpp import Llama

    n = 1 << (max_tokens - 1).bit_length()  # one sequence must fit a batch
    n = max(n, 2048)
    llm = Llama(model_path=model, embedding=True, n_ctx=n, n_batch=n, n_ubatch=n, n_threads=threads,
                n_threads_batch=threads, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST, verbose=False)
    plain = llm.tokenize

    def tokenize(text: bytes, add_bos: bool = True, special: bool = False):
        return plain(text, add_bos, True)  # parse "<|endoftext|>" as the special token, as Qwen3-Embedding needs

    llm.tokenize = tokenize
    counted = {"tokens": 0}

    def run(texts):
        counted["tokens"] = sum(len(tokenize(t.encode())) for t in texts)
        return np.asarray(llm.embed(texts, normalize=True), dtype=np.float32)

    return run, counted


def vllm_runner(model: str, threads: int, max_tokens: int):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0" if threads == 1 else f"0-{threads - 1}")
    from vllm import LLM

    llm = LLM(model=model, runner="pooling", dtype="bfloat16", max_model_len=max(max_tokens, 1024),
              enforce_eager=True, seed=0)
    counted = {"tokens": 0}

    def run(texts):
        outs = llm.embed(texts, use_tqdm=False)
        counted["tokens"] = sum(len(o.prompt_token_ids) for o in outs)
        v = np.asarray([o.outputs.embedding for o in outs], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return run, counted


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=["llama", "vllm"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--input", required=True, help="JSON: {texts: [...], max_tokens: n}")
    p.add_argument("--output", required=True, help=".npy for the (N, H) float32 vectors")
    args = p.parse_args()
    spec = json.loads(open(args.input).read())
    texts, max_tokens = spec["texts"], int(spec["max_tokens"])
    make = llama_runner if args.engine == "llama" else vllm_runner
    run, counted = make(args.model, args.threads, max_tokens)
    run(texts[:2])  # warm-up
    t, c = time.perf_counter(), cpu_seconds()
    vecs = run(texts)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    np.save(args.output, vecs)
    print(json.dumps({"wall": wall, "cpu": cpu, "tokens": counted["tokens"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
