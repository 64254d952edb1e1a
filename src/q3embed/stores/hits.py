"""Search results: one ``Hit`` per document, best first."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Hit:
    id: str  # document id
    score: float  # dense: inner product of the best chunk; lexical: its BM25; hybrid: the fused score
    text: str = ""  # that chunk's text
    chunk: int = 0  # chunk number within the document
    start: int = 0  # character span of the chunk in the document
    end: int = 0
    meta: dict = field(default_factory=dict)
    rerank_score: float | None = None  # P(yes) from a reranker, when one was used
    stages: list[str] = field(default_factory=list)  # first stage(s) that found it: "dense", "lexical" or both

    def to_dict(self, with_text: bool = True) -> dict:
        d = asdict(self)
        if not with_text:
            d.pop("text")
        if self.rerank_score is None:
            d.pop("rerank_score")
        return d


def best_per_document(scores: np.ndarray, rows: np.ndarray, row_doc: list[str], top_k: int) -> list[tuple[int, float]]:
    """(row, score) of the best chunk of each of the ``top_k`` best documents.

    scores, rows: (m,) one query's candidate rows, sorted best first. A document's score is its
    best chunk's score, so scanning in order and keeping first sightings ranks documents.
    """
    seen: set[str] = set()
    out = []
    for s, r in zip(scores.tolist(), rows.tolist()):
        doc = row_doc[r]
        if doc in seen:
            continue
        seen.add(doc)
        out.append((r, s))
        if len(out) == top_k:
            break
    return out
