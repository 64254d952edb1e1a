"""Hard-negative mining: rank the corpus for each query, sample negatives from a rank window.

Known positives are never sampled. Candidates that a reranker scores above ``max_score`` are
dropped as likely false negatives (unjudged relevant documents), and the next candidate in the
shuffled window is tried instead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np

from ..schema import ConfigDict, Field, TypedConfig, model_validator


class MiningConfig(TypedConfig):
    model_config = ConfigDict(frozen=True)
    rank_start: int = Field(10, ge=1)  # 1-based, inclusive: rank 1 is the nearest document
    rank_end: int = Field(100, ge=1)  # inclusive
    num_negatives: int = Field(7, ge=1)
    seed: int = 0
    max_score: float | None = Field(None, ge=0.0, le=1.0)  # reranker P(yes) above which a candidate is a likely false negative

    @model_validator(mode="after")
    def _range(self):
        if self.rank_start > self.rank_end:
            raise ValueError(f"rank range must satisfy 1 <= start <= end, got {self.rank_start}-{self.rank_end}")
        return self


def parse_rank_range(text: str) -> tuple[int, int]:
    """``"10-100"`` -> (10, 100)."""
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise ValueError(f"--range must look like START-END (e.g. 10-100), got {text!r}") from None
    return lo, hi


def top_ranked(query_vecs: np.ndarray, doc_vecs: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Indices of the ``k`` nearest documents per query, best first. (Q, d), (N, d) -> (Q, k)."""
    from ..stores.exact import exact_top_k

    return exact_top_k(query_vecs, doc_vecs, k, query_chunk=chunk)[1]


def sample_negatives(ranked_ids: list[str], positives: set[str], cfg: MiningConfig, rng: random.Random,
                     reject=None) -> list[str]:
    """Up to ``num_negatives`` ids from ranks [rank_start, rank_end], never a positive.

    ``reject(candidates) -> list[bool]`` (e.g. a reranker threshold) drops likely false negatives.
    """
    window = [d for d in ranked_ids[cfg.rank_start - 1: cfg.rank_end] if d not in positives]
    rng.shuffle(window)
    chosen: list[str] = []
    while window and len(chosen) < cfg.num_negatives:
        need = cfg.num_negatives - len(chosen)
        batch, window = window[:need], window[need:]
        drop = reject(batch) if reject is not None else [False] * len(batch)
        chosen += [d for d, bad in zip(batch, drop) if not bad]
    return chosen


def mine_hard_negatives(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    query_ids: list[str],
    doc_ids: list[str],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    cfg: MiningConfig,
    instruction: str | None = None,
    reranker=None,
    show_progress: bool = False,
) -> list[dict]:
    """Training rows ``{"query", "pos": [...], "neg": [...]}`` for every query with a positive."""
    top = top_ranked(query_vecs, doc_vecs, cfg.rank_end)  # (Q, rank_end)
    rng = random.Random(cfg.seed)
    rows = []
    items = list(enumerate(query_ids))
    if show_progress:
        from ..progress import tqdm

        items = tqdm(items, desc="mining", unit="query")
    for qi, qid in items:
        positives = {d for d, rel in qrels.get(qid, {}).items() if rel > 0}
        if not positives:
            continue
        reject = None
        if reranker is not None and cfg.max_score is not None:
            def reject(cands, q=queries[qid]):
                scores = reranker.score(q, [corpus[d] for d in cands], instruction=instruction)
                return [float(s) > cfg.max_score for s in scores]
        ranked = [doc_ids[j] for j in top[qi]]
        negs = sample_negatives(ranked, positives, cfg, rng, reject)
        row = {"query": queries[qid], "pos": [corpus[d] for d in sorted(positives) if d in corpus],
               "neg": [corpus[d] for d in negs], "query_id": qid, "neg_ids": negs}
        if instruction is not None:
            row["instruction"] = instruction
        rows.append(row)
    return rows
