"""The sections of bench/gpu_suite.py. Each takes a Context and returns (figures, problems).

``problems`` lists failed correctness checks (a failed section); speed targets are judged in
gpu_report.py and never fail a section. Every section runs on tiny shapes on CPU with
``Context.dry`` (the dry run), through the same code.
"""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.engine_common import REPO, lognormal_lengths, make_texts, matmul_peak, timed, useful_flops


@dataclass
class Context:
    work: Path
    dry: bool

    @property
    def device(self) -> str:
        return "cpu" if self.dry else "cuda"

    @property
    def half(self) -> torch.dtype:
        # The peers' dtype on GPU is the card's fp16; CPUs have no fast fp16, so the dry run takes bf16.
        return torch.bfloat16 if self.dry else torch.float16


def say(msg: str) -> None:
    print(msg, flush=True)


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_gib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else 0.0


def tokenizer_dir(ctx: Context) -> Path:
    from q3embed.model.vocab import save_qwen3_tokenizer

    out = ctx.work / "tokenizer"
    if not (out / "tokenizer.json").exists():
        save_qwen3_tokenizer(out)
    return out


def random_checkpoint(ctx: Context, kind: str, shape: str) -> Path:
    """Random weights (std 0.02, norms 1) in ``shape``, saved bf16 like the hub; built on the device (8B in seconds)."""
    from transformers import AutoTokenizer, Qwen3ForCausalLM, Qwen3Model

    from q3embed.config import DEFAULT_QUERY_INSTRUCTION
    from q3embed.model.tiny import qwen3_config, write_sentence_transformers_files

    shape = "tiny" if ctx.dry else shape
    out = ctx.work / f"{kind}-{shape}"
    if (out / "config.json").exists() and any(out.glob("*.safetensors")):
        return out
    t0 = time.time()
    cfg = qwen3_config(shape)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(ctx.device):
            model = Qwen3Model(cfg) if kind == "embedding" else Qwen3ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(default)
    g = torch.Generator(device=ctx.device).manual_seed(0 if kind == "embedding" else 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.02, generator=g)
            else:
                p.fill_(1.0)  # RMSNorm weights
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_dir(ctx)).save_pretrained(out)
    if kind == "embedding":
        write_sentence_transformers_files(out, pooling="lasttoken", prompt_instruction=DEFAULT_QUERY_INSTRUCTION)
    del model
    free(ctx.device)
    say(f"built {out} ({kind}, {shape}) in {time.time() - t0:.1f} s")
    return out


def peaks(ctx: Context) -> dict:
    n = 256 if ctx.dry else 8192
    return {"bf16_gflops": matmul_peak(ctx.device, torch.bfloat16, n=n, reps=10),
            "fp16_gflops": matmul_peak(ctx.device, torch.float16, n=n, reps=10)}


# ---------------------------------------------------------------- env

def section_env(ctx: Context):
    import transformers

    fig = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "cuda": torch.version.cuda, "device": ctx.device, "cpu_count": os.cpu_count()}
    try:
        import sentence_transformers

        fig["sentence_transformers"] = sentence_transformers.__version__
    except ImportError as e:
        fig["sentence_transformers"] = f"missing: {e}"
    if ctx.device == "cuda":
        p = torch.cuda.get_device_properties(0)
        fig.update(gpu=p.name, gpu_mem_gib=round(p.total_memory / 2 ** 30, 1), sms=p.multi_processor_count,
                   bf16_supported=torch.cuda.is_bf16_supported())
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401

        fig["varlen_attn"] = "present"
    except ImportError as e:
        fig["varlen_attn"] = f"missing: {e}"
    fig.update(peaks(ctx))
    say(f"env: {fig}")
    return fig, []


# ---------------------------------------------------------------- checks (the -m gpu assertions, in-process)

def section_checks(ctx: Context):
    from q3embed.engine import gpu_checks as checks

    from q3embed.model.tiny import save_tiny_qwen3

    tok = tokenizer_dir(ctx)
    emb_dir = ctx.work / "tiny-embedding"
    rr_dir = ctx.work / "tiny-reranker"
    if not (emb_dir / "config.json").exists():
        save_tiny_qwen3(emb_dir, kind="embedding", seed=0, tokenizer_dir=tok)
    if not (rr_dir / "config.json").exists():
        save_tiny_qwen3(rr_dir, kind="reranker", seed=1, tokenizer_dir=tok, tie_word_embeddings=False)
    # Dry run: CPU has no varlen kernel, so the emulation stands in and the profiler looks for SDPA.
    emulate = checks.emulated_varlen if ctx.dry else None
    expect = r"scaled_dot_product" if ctx.dry else checks.CUDA_VARLEN_OPS
    texts = checks.SHORT_TEXTS if ctx.dry else checks.TEXTS
    dtypes = ["bfloat16"] if ctx.dry else ["bfloat16", "float16"]
    fig, problems = {}, []
    for dtype in dtypes:
        e = checks.embedding_half_check(emb_dir, ctx.device, dtype, emulate, texts)
        r = checks.rerank_half_check(rr_dir, ctx.device, dtype, emulate, texts)
        fig[f"embed_{dtype}"], fig[f"rerank_{dtype}"] = e, r
        problems += [f"embed {dtype}: {p}" for p in checks.embedding_verdict(e, expect)]
        problems += [f"rerank {dtype}: {p}" for p in checks.rerank_verdict(r, expect)]
        say(f"{dtype}: embedding cosine min {e['cosine_min']:.6f}, varlen calls {e['varlen_calls']}; rerank max |dP| "
            f"vs fp32 {r['max_dp_vs_fp32']:.2e}, vs loop {r['max_dp_vs_loop']:.2e}, top-10 same {r['top10_same']}")
    if not ctx.dry:
        fig["embed_fp32_cosine_min"] = checks.fp32_embedding_check(emb_dir, ctx.device)
        fig["rerank_fp32_max_dp"] = checks.fp32_rerank_check(rr_dir, ctx.device)
        if fig["embed_fp32_cosine_min"] < 0.99999:
            problems.append(f"fp32 embedding cosine {fig['embed_fp32_cosine_min']:.7f} < 0.99999")
        if fig["rerank_fp32_max_dp"] > 1e-5:
            problems.append(f"fp32 rerank max |dP| {fig['rerank_fp32_max_dp']:.2e} > 1e-5")
    return fig, problems


# ---------------------------------------------------------------- embedding throughput

def _embed_peer(name: str, path: Path, ctx: Context, batch: int, loaded: dict):
    """(run, holder) of one peer; q3embed and q3embed_big share one loaded Embedder (``loaded``)."""
    from bench.embed_throughput import readme_path, st_path

    if name == "card_fp16":
        return readme_path(path, ctx.device, ctx.half, batch)
    if name == "card_fp32":
        return readme_path(path, ctx.device, torch.float32, batch)
    if name == "st_fp16":
        return st_path(path, ctx.device, ctx.half, batch)
    if name in ("q3embed", "q3embed_big", "q3embed_fp16"):
        from q3embed import Embedder

        # None = what a user gets: CUDA, bf16 where supported. The dry run pins the CPU.
        dtype = "float16" if name == "q3embed_fp16" else None
        if loaded.get("dtype", "unset") != dtype:
            loaded.clear()
            loaded.update(emb=Embedder.load(path, device="cpu" if ctx.dry else None, dtype=dtype), dtype=dtype)
        emb = loaded["emb"]
        kw = dict(batch_size=512, max_batch_tokens=65536) if name == "q3embed_big" else {}  # GPU-sized batches
        return (lambda texts: emb.encode(texts, **kw)), None
    raise ValueError(name)


def _cosines(v: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    v, ref = v[: len(ref)].astype(np.float64), ref.astype(np.float64)
    c = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
    return float(c.min()), float(c.mean())


def embed_throughput(ctx: Context, shape: str, n_texts: int, peers: list[str], n_ref: int):
    from transformers import AutoConfig, AutoTokenizer

    path = random_checkpoint(ctx, "embedding", shape)
    config = AutoConfig.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    pk = peaks(ctx)
    # The dry run keeps the spread of lengths (packing, padding waste) on short texts: tiny shapes, same paths.
    texts = make_texts(tok, lognormal_lengths(n_texts, 8, 64, median=24.0) if ctx.dry else
                       lognormal_lengths(n_texts, 8, 512), None)
    lengths = [len(r) for r in tok([t + "<|endoftext|>" for t in texts], add_special_tokens=False)["input_ids"]]
    flops = useful_flops(config, lengths)
    fig = {"shape": shape, "texts": len(texts), "tokens": sum(lengths), "max_len": max(lengths),
           "padding_waste_one_batch": round(len(texts) * max(lengths) / sum(lengths), 2), **pk,
           "flops_formula": "2*linear_params*tokens + 2*layers*heads*head_dim*T^2 per sequence (bench/engine_common.py)",
           "model_tflop": flops / 1e12, "peers": {}}
    say(f"{shape}: {len(texts)} texts, {sum(lengths)} tokens, max {max(lengths)}; bf16 peak {pk['bf16_gflops']:.0f} GFLOP/s")
    ref = None
    batch = 8 if ctx.dry else 64
    loaded: dict = {}
    for name in (["card_fp32"] if n_ref else []) + peers:
        if not name.startswith("q3embed"):
            loaded.clear()
        free(ctx.device)
        t0 = time.time()
        try:
            run, holder = _embed_peer(name, path, ctx, batch, loaded)
            load_s = time.time() - t0
            subset = texts[:n_ref] if name == "card_fp32" else texts
            run(subset[:2 if ctx.dry else 8])  # warm-up: kernel selection, allocator
            box = {}
            repeat = 2 if name.startswith("q3embed") and not ctx.dry else 1  # the dry run's figures are not read
            seconds, _ = timed(ctx.device, lambda: box.__setitem__("v", run(subset)), repeat)
            v = box["v"]
            if name == "card_fp32":
                ref = v
                tokens = sum(lengths[:n_ref])
                sub_flops = useful_flops(config, lengths[:n_ref])
            else:
                tokens, sub_flops = sum(lengths), flops
            row = {"seconds": round(seconds, 3), "load_s": round(load_s, 1), "tokens": tokens,
                   "tok_per_s": round(tokens / seconds, 1), "tflops": round(sub_flops / seconds / 1e12, 2),
                   "mfu_bf16": round(sub_flops / seconds / (pk["bf16_gflops"] * 1e9), 4),
                   "peak_gpu_gib": round(peak_gpu_gib(ctx.device), 2)}
            if ref is not None and name != "card_fp32":
                row["cos_min_vs_card_fp32"], row["cos_mean_vs_card_fp32"] = _cosines(v, ref)
            if name == "card_fp32":
                row["note"] = f"reference for the cosines, timed on the first {n_ref} texts only"
            fig["peers"][name] = row
            say(f"  {name:14s} {row['tok_per_s']:>10.0f} tok/s  MFU {100 * row['mfu_bf16']:5.1f}%  "
                f"{seconds:.2f} s  GPU {row['peak_gpu_gib']} GiB  load {load_s:.0f} s")
            del run, holder
        except Exception as e:  # one peer failing must not hide the others' figures
            fig["peers"][name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            say(f"  {name}: FAILED {fig['peers'][name]['error']}")
    by = fig["peers"]
    fig["ratios"] = {f"{a}/{b}": round(by[b]["seconds"] / by[a]["seconds"], 2)
                     for a in peers if a.startswith("q3embed") for b in ("card_fp16", "st_fp16")
                     if "seconds" in by.get(a, {}) and "seconds" in by.get(b, {})}
    say(f"  ratios: {fig['ratios']}")
    problems = [f"{n}: {r['error']}" for n, r in by.items() if "error" in r]
    for n, r in by.items():  # q3embed half vs the card's fp32: the same bar as the checks
        if n.startswith("q3embed") and r.get("cos_min_vs_card_fp32", 1.0) < 0.99:
            problems.append(f"{n}: cosine to card fp32 {r['cos_min_vs_card_fp32']:.4f} < 0.99 on random {shape} weights")
    return fig, problems


def section_embed_small(ctx: Context):
    return embed_throughput(ctx, "0.6B", 8 if ctx.dry else 4096,
                            ["card_fp16", "st_fp16", "q3embed", "q3embed_big", "q3embed_fp16"], 4 if ctx.dry else 256)


def section_embed_8b(ctx: Context):
    # No fp32 reference at 8B: loading 32 GB of fp32 weights would cost a third of the section's time box.
    return embed_throughput(ctx, "8B", 4 if ctx.dry else 512, ["card_fp16", "st_fp16", "q3embed", "q3embed_big"], 0)


# ---------------------------------------------------------------- reranking

def section_rerank(ctx: Context):
    from transformers import AutoTokenizer

    from bench.rerank_throughput import load_queries, official_path, q3embed_path

    path = random_checkpoint(ctx, "reranker", "0.6B")
    tok = AutoTokenizer.from_pretrained(path)
    n_docs = 3 if ctx.dry else 100
    settings = [1, 2] if ctx.dry else [1, 10]
    fig, problems = {}, []
    for n_q in settings:
        queries = load_queries(n_q, None)
        lengths = (lognormal_lengths(n_docs * n_q, 16, 64, seed=3, median=32.0) if ctx.dry else
                   lognormal_lengths(n_docs * n_q, 16, 512, seed=3, median=160.0))
        docs = make_texts(tok, lengths, None)
        pairs = [(queries[i // n_docs], d) for i, d in enumerate(docs)]
        key = f"{n_q}x{n_docs}"
        fig[key] = {"pairs": len(pairs), "doc_tokens": sum(lengths), "peers": {}}
        scores = {}
        peers = ["official_fp32", "official_fp16", "q3embed", "q3embed_fp16"] if n_q == 1 else \
            ["official_fp16", "q3embed", "q3embed_fp16"]
        for name in peers:
            free(ctx.device)
            try:
                if name.startswith("official"):
                    run, holder = official_path(path, ctx.device, torch.float32 if name.endswith("32") else ctx.half,
                                                8 if ctx.dry else 32)
                else:
                    run, holder = q3embed_path(path, None if not ctx.dry else "cpu", 8 if ctx.dry else 64,
                                               dtype="float16" if name == "q3embed_fp16" else None)
                run(pairs[:2])
                box = {}
                seconds, _ = timed(ctx.device, lambda: box.__setitem__("p", run(pairs)), 1)
                scores[name] = box["p"]
                row = {"seconds": round(seconds, 3), "pairs_per_s": round(len(pairs) / seconds, 1),
                       "peak_gpu_gib": round(peak_gpu_gib(ctx.device), 2)}
                fig[key]["peers"][name] = row
                say(f"  {key} {name:14s} {row['pairs_per_s']:>8.1f} pairs/s  {seconds:.3f} s")
                del run, holder
            except Exception as e:
                fig[key]["peers"][name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
                problems.append(f"{key} {name}: {fig[key]['peers'][name]['error']}")
        by = fig[key]["peers"]
        fig[key]["ratios"] = {f"{a}/{b}": round(by[b]["seconds"] / by[a]["seconds"], 2)
                              for a in ("q3embed", "q3embed_fp16") for b in ("official_fp16", "official_fp32")
                              if "seconds" in by.get(a, {}) and "seconds" in by.get(b, {})}
        if "official_fp32" in scores:
            top = lambda s: [int(i) for i in np.argsort(-s[:n_docs], kind="stable")[:10]]  # noqa: E731
            for name, s in scores.items():
                if name != "official_fp32":
                    by[name]["max_dp_vs_official_fp32"] = float(np.abs(s - scores["official_fp32"]).max())
                    by[name]["top10_same_as_fp32"] = top(s) == top(scores["official_fp32"])
        say(f"  {key} ratios: {fig[key]['ratios']}")
    return fig, problems


# ---------------------------------------------------------------- long input

def section_long(ctx: Context):
    from transformers import AutoTokenizer

    from bench.embed_throughput import readme_path

    path = random_checkpoint(ctx, "embedding", "0.6B")
    tok = AutoTokenizer.from_pretrained(path)
    n = 128 if ctx.dry else 32_000
    max_len = 32_768
    doc = make_texts(tok, [n], None)
    ids = tok(doc[0] + "<|endoftext|>", add_special_tokens=False)["input_ids"]
    fig = {"tokens": min(len(ids), max_len), "max_length": max_len, "peers": {}}
    weights_gib = sum(f.stat().st_size for f in path.glob("*.safetensors")) / 2 ** 30
    fig["weights_bf16_gib"] = round(weights_gib, 2)
    problems = []
    for name in ["q3embed", "card_fp16"]:
        free(ctx.device)
        try:
            if name == "q3embed":
                from q3embed import Embedder

                emb = Embedder.load(path, device=None if not ctx.dry else "cpu", max_length=max_len)
                holder, run = emb, lambda d: emb.encode(d)
            else:
                run, holder = readme_path(path, ctx.device, ctx.half, 1, max_length=max_len)
            run(["warm-up"])
            free(ctx.device)
            box = {}
            seconds, _ = timed(ctx.device, lambda: box.__setitem__("v", run(doc)), 1)
            row = {"seconds": round(seconds, 3), "tok_per_s": round(fig["tokens"] / seconds, 1),
                   "peak_gpu_gib": round(peak_gpu_gib(ctx.device), 2)}
            fig["peers"][name] = row
            say(f"  long {name:10s} {seconds:.3f} s  peak GPU {row['peak_gpu_gib']} GiB (weights {weights_gib:.2f} GiB bf16)")
            del run, holder
        except Exception as e:
            fig["peers"][name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            problems.append(f"{name}: {fig['peers'][name]['error']}")
    return fig, problems


# ---------------------------------------------------------------- pytest -m gpu

def section_tests(ctx: Context):
    # -o addopts=: not the default run's "-n 2" (pytest-xdist is not on the GPU machine, and the GPU
    # tests share one device), nor its "not gpu" marker filter
    cmd = [sys.executable, "-m", "pytest", "tests/engine/test_engine_gpu.py", "-o", "addopts=", "-m", "gpu", "-q",
           "-rA", "-p", "no:cacheprovider"]
    if ctx.dry:
        cmd.append("--collect-only")  # no CUDA here: check that the file still imports and collects
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)  # q3embed importable as in the suite
    tail = (proc.stdout + proc.stderr)[-3000:]
    say(tail)
    fig = {"command": " ".join(cmd[1:]), "rc": proc.returncode, "seconds": round(time.time() - t0, 1),
           # pytest's own summary line is the last of stdout; plugins may warn on stderr after it
           "summary": [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:]}
    return fig, ([] if proc.returncode == 0 else [f"pytest exit code {proc.returncode}: {fig['summary']}"])


# The Qwen3-VL section lives in bench/gpu_vl.py, which builds on this module; gpu_suite.runners() adds it.
RUN = {"env": section_env, "checks": section_checks, "embed-0.6B": section_embed_small, "rerank": section_rerank,
       "long": section_long, "embed-8B": section_embed_8b, "tests": section_tests}
