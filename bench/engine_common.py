"""Shared pieces of the engine benchmarks: the 0.6B-shape model, the corpus, peaks, timers, memory."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench import harness
from bench.harness import REPO  # noqa: F401  (gpu_sections reads it from here)


def scifact_corpus(data: Path) -> Path | None:
    """DATA/scifact/corpus.jsonl when it is there; the engine benchmarks fall back to random token ids."""
    path = Path(data) / "scifact" / "corpus.jsonl"
    return path if path.exists() else None


def model_dir(cache: Path, kind: str, tokenizer_dir: Path | None = None) -> Path:
    """Random weights in the exact Qwen3-{Embedding,Reranker}-0.6B shape, built once (bf16 on disk, like the hub)."""
    from q3embed.model.tiny import save_tiny_qwen3

    out = Path(cache) / f"{kind}-0.6B"
    if not (out / "config.json").exists() or not any(out.glob("*.safetensors")):
        print(f"building {out} (random 0.6B {kind}) ...", flush=True)
        save_tiny_qwen3(out, kind=kind, shape="0.6B", seed=0 if kind == "embedding" else 1,
                        tokenizer_dir=tokenizer_dir, dtype=torch.bfloat16)
    return out


def corpus_token_stream(tokenizer, corpus: Path | None, need: int) -> list[int]:
    """Token ids of real text (SciFact passages) to cut texts from; random ids without a corpus."""
    path = corpus
    ids: list[int] = []
    if path is not None and path.exists():
        with open(path) as fh:
            for line in fh:
                row = json.loads(line)
                ids.extend(tokenizer(row.get("title", "") + " " + row["text"], add_special_tokens=False)["input_ids"])
                if len(ids) >= need:
                    return ids
    rng = np.random.default_rng(1)
    return ids + rng.integers(1000, 100_000, need - len(ids) + 1).tolist()


def lognormal_lengths(n: int, lo: int, hi: int, seed: int = 0, median: float = 90.0, sigma: float = 0.8) -> list[int]:
    """Fixed-seed log-normal text lengths in tokens, clipped to [lo, hi]."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(median), sigma, n).astype(int), lo, hi).tolist()


def make_texts(tokenizer, lengths: list[int], corpus: Path | None = None) -> list[str]:
    """Texts decoded from consecutive slices of the corpus' token stream (about the asked lengths)."""
    stream = corpus_token_stream(tokenizer, corpus, sum(lengths) + 1)
    texts, s = [], 0
    for n in lengths:
        texts.append(tokenizer.decode(stream[s:s + n]))
        s += n
    return texts


def linear_params(config) -> int:
    """Parameters of the matmuls every token goes through (no embedding table, no LM head)."""
    h, f, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    hd = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * hd, config.num_key_value_heads * hd
    return L * (h * q + 2 * h * kv + q * h + 3 * h * f)


def useful_flops(config, lengths: list[int]) -> float:
    """Forward FLOPs on real tokens only: 2 x linear params per token + causal attention (QK^T and AV)."""
    hd = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_tok = 2 * linear_params(config)
    attn = 2 * config.num_hidden_layers * config.num_attention_heads * hd  # x T^2: two matmuls, half masked
    return float(sum(per_tok * n + attn * n * n for n in lengths))


def matmul_peak(device: str, dtype: torch.dtype, n: int | None = None, reps: int = 5) -> float:
    """Best GFLOP/s of an n x n x n matmul on ``device`` in ``dtype``, measured now.

    On CPU this divides by the process CPU time, not wall time (see ``timed``), so that with
    one thread it is the per-core peak whatever else the machine runs; compare it with the
    peers' CPU-time rates.
    """
    n = n or (8192 if device.startswith("cuda") else 2048)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for i in range(reps + 2):
        seconds, cpu = timed(device, lambda: a @ b)
        if i >= 2:
            best = min(best, seconds if device.startswith("cuda") else cpu)
    return 2 * n ** 3 / best / 1e9


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


class PeakRSS:
    """Samples this process' resident memory every 20 ms; ``peak`` in bytes."""

    def __init__(self):
        import psutil

        self._proc = psutil.Process(os.getpid())
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


@dataclass
class Result:
    name: str
    seconds: float
    n_texts: int
    n_tokens: int
    flops: float
    peak_rss: int
    peak_gpu: int = 0
    cpu_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.seconds

    @property
    def texts_per_s(self) -> float:
        return self.n_texts / self.seconds

    @property
    def gflops(self) -> float:
        """Per wall second on GPU; per CPU second on CPU (comparable with ``matmul_peak``)."""
        return self.flops / (self.cpu_seconds if self.peak_gpu == 0 and self.cpu_seconds else self.seconds) / 1e9


def timed(device: str, fn, repeat: int = 1) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of the fastest of ``repeat`` runs of ``fn()``
    (bench.harness.timed, with a CUDA sync around each run on a GPU)."""
    t = harness.timed(fn, repeat=repeat, sync=torch.cuda.synchronize if str(device).startswith("cuda") else None)
    return t.wall, t.cpu


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB"


def print_table(results: list[Result], peaks: dict[str, float]) -> None:
    print(f"\n{'peer':34s} {'tok/s':>10s} {'tok/cpu-s':>10s} {'texts/s':>9s} {'GFLOP/s':>9s} {'%bf16pk':>8s} {'%fp32pk':>8s} "
          f"{'peak RSS':>10s} {'GPU mem':>10s}")
    for r in results:
        print(f"{r.name:34s} {r.tokens_per_s:10.1f} {r.n_tokens / r.cpu_seconds:10.1f} {r.texts_per_s:9.2f} {r.gflops:9.1f} "
              f"{100 * r.gflops / peaks['bf16']:7.1f}% {100 * r.gflops / peaks['fp32']:7.1f}% "
              f"{gib(r.peak_rss):>10s} {gib(r.peak_gpu) if r.peak_gpu else '-':>10s}")
    print(f"matmul peaks measured in this run: bf16 {peaks['bf16']:.0f} GFLOP/s, fp32 {peaks['fp32']:.0f} GFLOP/s")


def print_ratios(results: list[Result], pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Print how many times faster ``num`` is than ``den`` for each pair measured; return the CPU-time ratios."""
    by = {r.name: r for r in results}
    out = {}
    for num, den in pairs:
        if num in by and den in by:
            a, b = by[num], by[den]
            print(f"ratio {num} / {den}: {b.seconds / a.seconds:.2f}x wall, {b.cpu_seconds / a.cpu_seconds:.2f}x CPU time")
            out[f"{num} / {den}, CPU time"] = round(b.cpu_seconds / a.cpu_seconds, 2)
    return out
