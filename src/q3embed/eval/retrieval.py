"""Retrieval evaluation on a BEIR folder: embed, exact cosine top-k, trec_eval metrics."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..stores.fusion import FusionConfig
from .beir import BeirStats, load_beir_with_stats
from .cache import encode_cached
from .metrics import DEFAULT_K_VALUES, retrieval_metrics
from .search import exact_search


def as_embedder(model):
    """Accept an Embedder-like object or a checkpoint path/name."""
    if isinstance(model, (str, Path)):
        from ..engine import Embedder

        return Embedder.load(model)
    if not hasattr(model, "encode"):
        raise TypeError(f"expected an Embedder (with .encode) or a checkpoint path, got {type(model).__name__}")
    return model


def model_name(embedder) -> str:
    return str(getattr(embedder, "name", None) or type(embedder).__name__)


@dataclass
class EncodedRetrieval:
    """A BEIR split with its queries and documents embedded (rows follow the id lists)."""

    query_ids: list[str]
    doc_ids: list[str]
    query_vecs: np.ndarray  # (Q, d)
    doc_vecs: np.ndarray  # (N, d)
    qrels: dict[str, dict[str, int]]
    stats: BeirStats


def encode_retrieval(embedder, data_dir, split="test", instruction=None, dim=None, batch_size=32, cache_dir=None,
                     show_progress=False) -> EncodedRetrieval:
    """Load a BEIR split and embed it: queries with ``instruction`` (None: the model's default),
    documents without; documents go through the cache when ``cache_dir`` is set."""
    from .visual import is_visual_retrieval, load_visual_retrieval

    if is_visual_retrieval(data_dir):  # images/pages (Qwen3-VL): no cache, documents are images (eval/visual.py)
        if not getattr(embedder, "is_vl", False):
            raise ValueError(f"{data_dir} is an image corpus; evaluating on it needs a Qwen3-VL embedding model")
        corpus, queries, qrels = load_visual_retrieval(data_dir, split)
        stats = BeirStats(documents=len(corpus), queries_in_file=len(queries), judged_queries=len(queries),
                          qrels=sum(len(j) for j in qrels.values()))
        doc_ids, query_ids = list(corpus), list(queries)
        doc_vecs = embedder.encode_documents([corpus[i] for i in doc_ids], dim=dim, batch_size=batch_size,
                                             show_progress=show_progress)
        query_vecs = embedder.encode_queries([queries[i] for i in query_ids], instruction=instruction, dim=dim,
                                             batch_size=batch_size, show_progress=show_progress)
        return EncodedRetrieval(query_ids, doc_ids, query_vecs, doc_vecs, qrels, stats)
    corpus, queries, qrels, stats = load_beir_with_stats(data_dir, split)
    doc_ids, query_ids = list(corpus), list(queries)
    doc_vecs = encode_cached(embedder, [corpus[i] for i in doc_ids], dim=dim, batch_size=batch_size,
                             cache_dir=cache_dir, show_progress=show_progress)
    query_vecs = encode_cached(embedder, [queries[i] for i in query_ids], instruction=instruction, dim=dim,
                               batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress, query=True)
    return EncodedRetrieval(query_ids, doc_ids, query_vecs, doc_vecs, qrels, stats)


def evaluate_retrieval(
    embedder,
    data_dir: str | Path,
    split: str = "test",
    instruction: str | None = None,
    dim: int | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    top_k: int = 100,
    show_progress: bool = False,
    *,
    return_run: bool = False,
    ignore_identical_ids: bool = False,
    store=None,
    mode: str = "dense",
    method: str = "exact",
    fusion=None,
) -> dict:
    """nDCG@1/3/5/10/100, MAP@k, Recall@k, P@k, MRR@k of ``embedder`` on a BEIR folder.

    Queries get ``instruction`` (None: the model's default query instruction; for encoders
    such as all-MiniLM-L6-v2 that means none). Documents get no instruction and are cached
    under ``cache_dir`` when given. Metrics are fractions in [0, 1]; ``main_score`` is
    ``ndcg_at_10``. With ``return_run`` the result also holds ``run``: {query id: {doc id: score}}
    for the top ``top_k`` documents of each query. ``ignore_identical_ids`` drops a document whose
    id equals the query id from the ranking (MTEB does so for ArguAna, Quora, FiQA, FEVER...).

    ``store`` (any ``VectorStore`` that holds this corpus, e.g. built with ``q3embed index build``)
    scores the search that ships: queries are embedded here and ranked by ``store.search`` with
    ``mode`` (dense, lexical or hybrid, fused by ``fusion``) and ``method`` (how the dense stage
    searches), so the published number is the store's. Without it, documents are embedded and
    ranked by the same exact top-k kernel the embedded index uses (dense mode only).
    """
    embedder = as_embedder(embedder)
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    t0 = time.perf_counter()
    if store is not None:
        return _evaluate_store(embedder, store, data_dir, split, instruction, batch_size, cache_dir, top_k,
                               (mode, method, fusion), show_progress, return_run, ignore_identical_ids, t0)
    if mode != "dense":
        raise ValueError(f"retrieval mode {mode!r} searches a store's lexical index: pass store= (--store) built "
                         "from this corpus, or use mode 'dense'")
    enc = encode_retrieval(embedder, data_dir, split, instruction, dim, batch_size, cache_dir, show_progress)
    query_ids, doc_ids, qrels, stats = enc.query_ids, enc.doc_ids, enc.qrels, enc.stats
    query_vecs, doc_vecs = enc.query_vecs, enc.doc_vecs
    run = exact_search(query_vecs, doc_vecs, query_ids, doc_ids, top_k=top_k, ignore_identical_ids=ignore_identical_ids)
    result = score_run(run, qrels, top_k)
    result.update(
        task="retrieval",
        dataset=Path(data_dir).resolve().name,
        split=split,
        model=model_name(embedder),
        dim=int(doc_vecs.shape[1]),
        instruction=instruction,
        top_k=top_k,
        num_queries=len(query_ids),
        num_documents=len(doc_ids),
        data_counts=stats.as_dict(),
        seconds=round(time.perf_counter() - t0, 2),
    )
    if return_run:
        result["run"] = run
    return result


def _evaluate_store(embedder, store, data_dir, split, instruction, batch_size, cache_dir, top_k, search,
                    show_progress, return_run, ignore_identical_ids, t0) -> dict:
    mode, method, fusion = search
    if mode == "hybrid":
        fusion = fusion or FusionConfig()  # recorded with the result: the figure names its fusion
    corpus, queries, qrels, stats = load_beir_with_stats(data_dir, split)
    store.check_embedder(embedder)
    held = store.count()
    if held != len(corpus):
        raise ValueError(f"{store.location} holds {held} documents; {data_dir} has {len(corpus)}. Build the store "
                         f"from this corpus (q3embed index build --corpus {Path(data_dir) / 'corpus.jsonl'} ...)")
    query_ids = list(queries)
    dim = store.spec.dim
    instruction = instruction if instruction is not None else store.spec.instruction
    texts = [queries[i] for i in query_ids]
    depth = top_k + 1 if ignore_identical_ids else top_k
    if mode == "lexical":  # no query vectors needed
        hits = store.search(texts, top_k=depth, mode=mode)
    else:
        query_vecs = encode_cached(embedder, texts, instruction=instruction, dim=dim, batch_size=batch_size,
                                   cache_dir=cache_dir, show_progress=show_progress, query=True)
        hits = store.search(np.asarray(query_vecs, np.float32), top_k=depth, mode=mode, method=method, texts=texts,
                            fusion=fusion)
    run = {q: {h.id: h.score for h in hs if not (ignore_identical_ids and h.id == q)}
           for q, hs in zip(query_ids, hits)}
    run = {q: dict(list(r.items())[:top_k]) for q, r in run.items()}
    result = score_run(run, qrels, top_k)
    result.update(task="retrieval", dataset=Path(data_dir).resolve().name, split=split, model=model_name(embedder),
                  dim=dim, instruction=instruction, top_k=top_k, store=store.location, search_mode=mode,
                  search_method=method, fusion=asdict(fusion) if mode == "hybrid" and fusion else None,
                  num_queries=len(query_ids), num_documents=held, data_counts=stats.as_dict(),
                  seconds=round(time.perf_counter() - t0, 2))
    if return_run:
        result["run"] = run
    return result


def score_run(run, qrels, top_k: int = 100, k_values=DEFAULT_K_VALUES) -> dict:
    """Metrics of a run (k values above ``top_k`` are dropped), with ``main_score`` = nDCG@10."""
    ks = [k for k in k_values if k <= top_k] or [top_k]
    metrics = retrieval_metrics(run, qrels, ks)
    main = metrics.get("ndcg_at_10", metrics[f"ndcg_at_{max(ks)}"])
    return {"main_score": main, "main_metric": "ndcg_at_10" if "ndcg_at_10" in metrics else f"ndcg_at_{max(ks)}",
            **metrics}
