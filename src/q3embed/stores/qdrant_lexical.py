"""BM25 as Qdrant sparse vectors: the document side computed here, the IDF side by Qdrant.

A chunk's sparse vector (named ``lexical``) holds, per term of ``analysis.analyze``, the BM25
term-frequency part ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))`` (k1 = 1.2, b = 0.75). The
collection declares the IDF modifier, so Qdrant multiplies each query term by
``ln(1 + (N - df + 0.5) / (df + 0.5))`` from its own live counts, and a query vector of ones over
the query's distinct terms scores Okapi BM25, as the other stores do.

- ``avgdl`` must be known when a chunk is written: it is the average of the collection's first
  write (a build's first commit: all of SciFact), recorded in the collection metadata and used
  for every later write. The embedded index and PostgreSQL use the live average instead, so
  scores drift apart slightly as a collection grows away from its first write.
- A term's sparse index is its CRC-32: no vocabulary to keep in step across writers. Two terms
  that share a CRC-32 add up (about one pair in a 90,000-term vocabulary).
"""

from __future__ import annotations

import zlib
from collections import Counter

from .analysis import analyze

SPARSE = "lexical"  # the sparse vector's name in the collection
AVGDL = "q3embed_avgdl"  # collection metadata: the average chunk length (terms) document weights use
K1 = 1.2
B = 0.75


def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def _sparse(weights: dict[int, float]):
    from qdrant_client import models

    idx = sorted(weights)
    return models.SparseVector(indices=idx, values=[weights[i] for i in idx])


def document_vectors(texts, analyzer: str, avgdl: float | None):
    """(sparse vectors, the avgdl used): the first write's own average when ``avgdl`` is None."""
    counts = [Counter(analyze(t, analyzer)) for t in texts]
    lengths = [sum(c.values()) for c in counts]
    if avgdl is None:
        avgdl = max(sum(lengths) / max(len(lengths), 1), 1.0)
    vectors = []
    for c, dl in zip(counts, lengths):
        norm = K1 * (1 - B + B * dl / avgdl)
        weights: dict[int, float] = {}
        for term, tf in c.items():
            i = term_index(term)
            weights[i] = weights.get(i, 0.0) + tf * (K1 + 1) / (tf + norm)
        vectors.append(_sparse(weights))
    return vectors, avgdl


def query_vector(text: str, analyzer: str):
    """Ones over the distinct query terms (Qdrant applies the IDF); None when the text has no terms."""
    terms = dict.fromkeys(term_index(t) for t in analyze(text, analyzer))
    return _sparse({i: 1.0 for i in terms}) if terms else None


def sparse_config():
    from qdrant_client import models

    return {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)}
