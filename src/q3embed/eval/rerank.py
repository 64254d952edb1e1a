"""Two-stage evaluation (the paper's protocol): embed and retrieve the top-k, rerank them, and
report nDCG@10 before and after."""

from __future__ import annotations

import time
from pathlib import Path

from .beir import load_beir
from .metrics import DEFAULT_K_VALUES
from .retrieval import evaluate_retrieval, model_name, score_run


def as_reranker(model):
    if isinstance(model, (str, Path)):
        from ..engine import Reranker

        return Reranker.load(model)
    if not hasattr(model, "score"):
        raise TypeError(f"expected a Reranker (with .score) or a checkpoint path, got {type(model).__name__}")
    return model


def rerank_run(reranker, run, queries: dict[str, str], corpus: dict[str, str], instruction: str | None = None,
               batch_size: int = 16, show_progress: bool = False) -> dict[str, dict[str, float]]:
    """Replace each query's first-stage scores by the reranker's P(yes) for the same documents."""
    qids = list(run)
    if show_progress:
        from ..progress import tqdm

        qids = tqdm(qids, desc="reranking", unit="query")
    out = {}
    for qid in qids:
        doc_ids = list(run[qid])
        scores = reranker.score(queries[qid], [corpus[d] for d in doc_ids], instruction=instruction,
                                batch_size=batch_size)
        out[qid] = {d: float(s) for d, s in zip(doc_ids, scores)}
    return out


def evaluate_rerank(
    embedder,
    reranker,
    data_dir: str | Path,
    split: str = "test",
    instruction: str | None = None,
    rerank_instruction: str | None = None,
    dim: int | None = None,
    top_k: int = 100,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    max_queries: int | None = None,
    show_progress: bool = False,
) -> dict:
    """Retrieve ``top_k`` per query with ``embedder``, rerank them with ``reranker``.

    ``main_score`` is nDCG@10 after reranking (also as ``ndcg_at_10_after``, next to
    ``ndcg_at_10_before``); ``before`` holds all of the first stage's metrics.
    ``max_queries`` scores only the first N judged queries (in file order), for quick checks;
    the first stage is then scored on the same queries, so before and after compare.
    """
    from .retrieval import as_embedder

    embedder, reranker = as_embedder(embedder), as_reranker(reranker)
    t0 = time.perf_counter()
    first = evaluate_retrieval(embedder, data_dir, split=split, instruction=instruction, dim=dim,
                               batch_size=batch_size, cache_dir=cache_dir, top_k=top_k,
                               show_progress=show_progress, return_run=True)
    corpus, queries, qrels = load_beir(data_dir, split)
    run = first.pop("run")
    if max_queries is not None:
        if max_queries < 1:
            raise ValueError(f"max_queries must be >= 1, got {max_queries}")
        run = {q: run[q] for q in list(queries)[:max_queries]}
    ks = tuple(k for k in DEFAULT_K_VALUES if k <= top_k)
    before = score_run(run, qrels, top_k, ks)
    reranked = rerank_run(reranker, run, queries, corpus, instruction=rerank_instruction,
                          show_progress=show_progress)
    after = score_run(reranked, qrels, top_k, ks)
    return {
        **after,
        "before": before,
        f"{after['main_metric']}_before": before["main_score"],
        f"{after['main_metric']}_after": after["main_score"],
        "task": "rerank",
        "dataset": first["dataset"],
        "split": split,
        "model": model_name(embedder),
        "reranker": model_name(reranker),
        "dim": first["dim"],
        "instruction": instruction,
        "rerank_instruction": rerank_instruction,
        "top_k": top_k,
        "num_queries": len(run),
        "num_queries_skipped": len(queries) - len(run),
        "num_documents": first["num_documents"],
        "data_counts": first["data_counts"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
