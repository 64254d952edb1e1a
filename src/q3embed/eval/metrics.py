"""Ranking and correlation metrics with trec_eval semantics (as MTEB computes them).

Pure functions over plain dicts and arrays; no model code here.

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

import math
from collections.abc import Iterable, Mapping

import numpy as np

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_K_VALUES = (1, 3, 5, 10, 100)


def rank_documents(doc_scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first: score descending, then doc id descending (trec_eval's tie order)."""
    return [d for d, _ in sorted(doc_scores.items(), key=lambda item: (float(item[1]), item[0]), reverse=True)]


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of gains listed by rank (rank 1 first)."""
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains) if g)


def ndcg_at_k(ranking: list[str], judgments: Mapping[str, int], k: int) -> float:
    ideal = sorted((r for r in judgments.values() if r > 0), reverse=True)[:k]
    ideal_dcg = dcg(ideal)
    if ideal_dcg == 0:
        return 0.0
    return dcg(max(judgments.get(d, 0), 0) for d in ranking[:k]) / ideal_dcg


def average_precision_at_k(ranking: list[str], judgments: Mapping[str, int], k: int) -> float:
    num_relevant = sum(1 for r in judgments.values() if r >= 1)
    if num_relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for rank, d in enumerate(ranking[:k], start=1):
        if judgments.get(d, 0) >= 1:
            hits += 1
            total += hits / rank
    return total / num_relevant


def recall_at_k(ranking: list[str], judgments: Mapping[str, int], k: int) -> float:
    num_relevant = sum(1 for r in judgments.values() if r >= 1)
    if num_relevant == 0:
        return 0.0
    return sum(1 for d in ranking[:k] if judgments.get(d, 0) >= 1) / num_relevant


def precision_at_k(ranking: list[str], judgments: Mapping[str, int], k: int) -> float:
    return sum(1 for d in ranking[:k] if judgments.get(d, 0) >= 1) / k


def reciprocal_rank_at_k(ranking: list[str], judgments: Mapping[str, int], k: int) -> float:
    for rank, d in enumerate(ranking[:k], start=1):
        if judgments.get(d, 0) >= 1:
            return 1.0 / rank
    return 0.0


_PER_QUERY = {
    "ndcg_at": ndcg_at_k,
    "map_at": average_precision_at_k,
    "recall_at": recall_at_k,
    "precision_at": precision_at_k,
    "mrr_at": reciprocal_rank_at_k,
}


def per_query_metrics(run: Run, qrels: Qrels, k_values: Iterable[int] = DEFAULT_K_VALUES) -> dict[str, dict[str, float]]:
    """{query id: {"ndcg_at_10": ..., ...}} for every query in both ``run`` and ``qrels``."""
    k_values = sorted(set(int(k) for k in k_values))
    if not k_values or k_values[0] < 1:
        raise ValueError(f"k values must be positive integers, got {k_values}")
    out = {}
    for qid, doc_scores in run.items():
        if qid not in qrels:
            continue
        ranking = rank_documents(doc_scores)
        judgments = qrels[qid]
        out[qid] = {f"{name}_{k}": fn(ranking, judgments, k) for name, fn in _PER_QUERY.items() for k in k_values}
    return out


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
