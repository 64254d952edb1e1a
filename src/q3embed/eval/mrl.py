"""MRL sweep: score one task at several output dimensions, from a single full-width encoding.

Taking the first ``d`` components of the full vector and re-normalising is exactly what
``Embedder.encode(dim=d)`` does, so the corpus is embedded once and every width is scored
from that (and the full-width vectors land in the cache for later runs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import MRL_MIN_DIM
from .retrieval import as_embedder, encode_retrieval, model_name, score_run
from ..data.vectors import l2_normalize
from .search import exact_search
from .sts import encode_sts, sts_scores


def parse_dims(spec: str | Sequence, width: int) -> tuple[list[int], list[str]]:
    """'32,64,full' -> ([32, 64, width], skipped). Dims above ``width`` are skipped (reported)."""
    items = [x.strip() for x in spec.split(",")] if isinstance(spec, str) else [str(x) for x in spec]
    dims, skipped = [], []
    for item in items:
        if item in ("full", "max", str(width)):
            d = width
        else:
            try:
                d = int(item)
            except ValueError:
                raise ValueError(f"bad dimension {item!r} in --dims; accepted: integers {MRL_MIN_DIM}..{width} or 'full'") from None
            if d < MRL_MIN_DIM:
                raise ValueError(f"dimension {d} is below the MRL minimum {MRL_MIN_DIM}")
            if d > width:
                skipped.append(f"{d} (model width is {width})")
                continue
        if d not in dims:
            dims.append(d)
    if not dims:
        raise ValueError(f"no usable dimension in {spec!r}; the model's width is {width}")
    return sorted(dims), skipped


def truncate(vecs: np.ndarray, dim: int) -> np.ndarray:
    """First ``dim`` components, L2-normalised. (N, D) -> (N, dim)."""
    return l2_normalize(vecs[:, :dim])


def mrl_sweep(embedder, task: str, data, dims: str | Sequence = "32,64,128,256,512,full", split: str = "test",
              instruction: str | None = None, batch_size: int = 32, cache_dir: str | Path | None = None,
              top_k: int = 100, show_progress: bool = False) -> dict:
    """Score ``task`` ('retrieval' on a BEIR folder, 'sts' on a pairs file) at each dimension.

    Returns {"task", "dataset", "model", "dims": [...], "scores": [main_score per dim],
    "results": [full metric dict per dim], "skipped_dims": [...]}.
    """
    embedder = as_embedder(embedder)
    t0 = time.perf_counter()
    if task == "retrieval":
        enc = encode_retrieval(embedder, data, split, instruction, None, batch_size, cache_dir, show_progress)
        width = enc.doc_vecs.shape[1]
        dim_list, skipped = parse_dims(dims, width)
        results = []
        for d in dim_list:
            run = exact_search(truncate(enc.query_vecs, d), truncate(enc.doc_vecs, d), enc.query_ids, enc.doc_ids, top_k)
            results.append({**score_run(run, enc.qrels, top_k), "dim": d})
        dataset = Path(data).resolve().name
    elif task == "sts":
        vecs1, vecs2, gold = encode_sts(embedder, data, instruction, None, batch_size, cache_dir, show_progress)
        width = vecs1.shape[1]
        dim_list, skipped = parse_dims(dims, width)
        results = [{**sts_scores(truncate(vecs1, d), truncate(vecs2, d), gold), "dim": d} for d in dim_list]
        dataset = Path(data).stem
    else:
        raise ValueError(f"MRL sweep supports task 'retrieval' or 'sts', got {task!r}")
    return {
        "task": f"mrl-{task}",
        "dataset": dataset,
        "model": model_name(embedder),
        "width": int(width),
        "dims": dim_list,
        "scores": [r["main_score"] for r in results],
        "main_metric": results[0]["main_metric"],
        "results": results,
        "skipped_dims": skipped,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def mrl_table(sweep: dict) -> str:
    """Markdown table: dim, score x100, share of the full-width score."""
    full = sweep["scores"][-1]
    lines = [f"| dim | {sweep['main_metric']} ×100 | % of dim {sweep['dims'][-1]} |", "|---:|---:|---:|"]
    for d, s in zip(sweep["dims"], sweep["scores"]):
        share = f"{100 * s / full:.1f}" if full else "-"
        lines.append(f"| {d} | {100 * s:.2f} | {share} |")
    return "\n".join(lines)


def plot_mrl(sweeps: dict | Sequence[dict], png_path: str | Path) -> Path:
    """Score (x100) against dimension on a log2 axis, one line per sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = [sweeps] if isinstance(sweeps, dict) else list(sweeps)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for s in sweeps:
        ys = [100 * v for v in s["scores"]]
        ax.plot(s["dims"], ys, marker="o", label=f"{Path(str(s['model'])).name} · {s['dataset']}")
        for x, y in zip(s["dims"], ys):
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    all_dims = sorted({d for s in sweeps for d in s["dims"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_dims, [str(d) for d in all_dims])
    ax.set_xlabel("embedding dimension (MRL truncation)")
    ax.set_ylabel(f"{sweeps[0]['main_metric']} ×100")
    ax.set_title(f"MRL sweep: {sweeps[0]['task'].removeprefix('mrl-')}")
    ax.margins(y=0.12)  # room for the value labels above the top point
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path
