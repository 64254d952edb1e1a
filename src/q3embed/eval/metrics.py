"""Ranking metrics from pytrec_eval (the trec_eval bindings MTEB scores with), and correlations.

* A *run* maps query id -> {doc id: score}; *qrels* map query id -> {doc id: relevance}.
* Ranking order is trec_eval's: score descending, ties broken by doc id descending (string order).
* nDCG uses the relevance level itself as the gain (not 2**rel - 1) and a log2(rank + 1) discount;
  the ideal ranking holds every judged document with relevance > 0, cut at k.
* MAP@k, Recall@k, P@k and MRR@k count a document as relevant when its relevance is >= 1;
  MAP and Recall divide by all relevant documents of the query, P@k by k.
* A query is scored when it is in both the run and the qrels (as pytrec_eval does); a query
  whose qrels hold no relevant document scores 0 on every metric and still counts in the mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_K_VALUES = (1, 3, 5, 10, 100)


def rank_documents(doc_scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first: score descending, then doc id descending (trec_eval's tie order)."""
    return [d for d, _ in sorted(doc_scores.items(), key=lambda item: (float(item[1]), item[0]), reverse=True)]


def _measures(k_values: list[int]) -> dict[str, str]:
    """Our metric prefix -> pytrec_eval measure (MTEB scores with the same ones)."""
    ks = ",".join(map(str, k_values))
    return {"ndcg_at": f"ndcg_cut.{ks}", "map_at": f"map_cut.{ks}", "recall_at": f"recall.{ks}", "precision_at": f"P.{ks}"}


def per_query_metrics(run: Run, qrels: Qrels, k_values: Iterable[int] = DEFAULT_K_VALUES) -> dict[str, dict[str, float]]:
    """{query id: {"ndcg_at_10": ..., ...}} for every query in both ``run`` and ``qrels``, by pytrec_eval.

    MRR@k is trec_eval's ``recip_rank`` on the run cut to its top k in trec_eval's order.
    """
    import pytrec_eval

    k_values = sorted(set(int(k) for k in k_values))
    if not k_values or k_values[0] < 1:
        raise ValueError(f"k values must be positive integers, got {k_values}")
    qrels = {q: {d: int(r) for d, r in j.items()} for q, j in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    measures = _measures(k_values)
    scored = pytrec_eval.RelevanceEvaluator(qrels, set(measures.values())).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    ranked = {q: rank_documents(docs) for q, docs in run.items()}
    out = {}
    for q, res in scored.items():
        row = {f"{ours}_{k}": res[f"{theirs.split('.')[0]}_{k}"]
               for ours, theirs in measures.items() for k in k_values}
        out[q] = row
    for k in k_values:
        cut = {q: {d: run[q][d] for d in ranked[q][:k]} for q in scored}
        for q, res in rr.evaluate(cut).items():
            out[q][f"mrr_at_{k}"] = res["recip_rank"]
    return {q: {name: m[name] for name in sorted(m, key=_metric_order)} for q, m in out.items()}


def _metric_order(name: str) -> tuple[int, int]:
    prefix, k = name.rsplit("_", 1)
    return ["ndcg_at", "map_at", "recall_at", "precision_at", "mrr_at"].index(prefix), int(k)


def retrieval_metrics(run: Run, qrels: Qrels, k_values: Iterable[int] = DEFAULT_K_VALUES) -> dict[str, float]:
    """Mean of each metric over the scored queries, as fractions in [0, 1].

    Keys: ``ndcg_at_K``, ``map_at_K``, ``recall_at_K``, ``precision_at_K``, ``mrr_at_K`` for each K.
    """
    per_query = per_query_metrics(run, qrels, k_values)
    if not per_query:
        raise ValueError("no query is in both the run and the qrels; nothing to score")
    names = next(iter(per_query.values())).keys()
    return {name: float(np.mean([m[name] for m in per_query.values()])) for name in names}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties get their average rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)).statistic)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)).statistic)
