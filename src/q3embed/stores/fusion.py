"""Fusing a dense and a lexical hit list into one hybrid list (pure functions, shared by the stores).

Defaults, fixed before any test score was seen:

- Reciprocal Rank Fusion with k = 60 (Cormack, Clarke and Buettcher, SIGIR 2009; the value
  Elasticsearch, OpenSearch and Qdrant use): ``score(d) = sum over lists of 1 / (k + rank(d))``,
  rank starting at 1. It needs no score calibration between BM25 and cosine.
- Each first stage returns ``depth`` = 100 candidates (or ``top_k`` if larger) before fusion; a
  document missing from one list gets nothing from it.
- ``weighted``: each list's scores are min-max normalised over its candidates, then
  ``dense_weight * dense + (1 - dense_weight) * lexical`` (0.5 by default: no preference).

Every fused hit records which first stage(s) found it (``Hit.stages``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .hits import Hit

FUSION_METHODS = ("rrf", "weighted")
SEARCH_MODES = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class FusionConfig:
    method: str = "rrf"
    k: int = 60  # RRF constant
    dense_weight: float = 0.5  # weighted fusion: lexical gets 1 - dense_weight
    depth: int = 100  # candidates each first stage returns before fusion

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ValueError(f"fusion method must be one of {', '.join(FUSION_METHODS)}, got {self.method!r}")
        if self.k < 1:
            raise ValueError(f"RRF k must be >= 1, got {self.k}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be in [0, 1], got {self.dense_weight}")
        if self.depth < 1:
            raise ValueError(f"fusion depth must be >= 1, got {self.depth}")

    def stage_depth(self, top_k: int) -> int:
        return max(self.depth, top_k)


def check_mode(mode: str) -> str:
    if mode not in SEARCH_MODES:
        raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    return mode


def label(hits: list[Hit], stage: str) -> list[Hit]:
    for h in hits:
        h.stages = [stage]
    return hits


def fuse(dense: list[Hit], lexical: list[Hit], top_k: int, config: FusionConfig | None = None) -> list[Hit]:
    """The ``top_k`` best documents of two best-first hit lists (one query), each with ``stages``.

    A fused hit keeps the text/chunk of the dense hit when both found it (the lexical one otherwise);
    ``score`` is the fused score. Ties break on document id, so every store orders them alike.
    """
    config = config or FusionConfig()
    lists = {"dense": dense, "lexical": lexical}
    fused: dict[str, float] = {}
    first: dict[str, Hit] = {}
    stages: dict[str, list[str]] = {}
    for stage, hits in lists.items():
        for rank, score in enumerate(_contributions(hits, config, stage), start=1):
            h = hits[rank - 1]
            fused[h.id] = fused.get(h.id, 0.0) + score
            first.setdefault(h.id, h)
            stages.setdefault(h.id, []).append(stage)
    order = sorted(fused, key=lambda d: (-fused[d], d))[:top_k]
    return [dataclasses.replace(first[d], score=fused[d], stages=stages[d], rerank_score=None) for d in order]


def _contributions(hits: list[Hit], config: FusionConfig, stage: str) -> list[float]:
    if config.method == "rrf":
        return [1.0 / (config.k + rank) for rank in range(1, len(hits) + 1)]
    weight = config.dense_weight if stage == "dense" else 1.0 - config.dense_weight
    if not hits:
        return []
    lo, hi = min(h.score for h in hits), max(h.score for h in hits)
    span = hi - lo
    return [weight * ((h.score - lo) / span if span > 0 else 1.0) for h in hits]
