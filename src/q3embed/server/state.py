"""What the endpoints share: settings, metrics and the served models."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .batcher import DynamicBatcher
from .metrics import ServerMetrics
from .services import EmbeddingService, RerankService, RetrievalService
from .settings import ServerSettings
from .thumbnails import RecentHits


@dataclass
class ServerState:
    settings: ServerSettings
    metrics: ServerMetrics
    embedding: EmbeddingService | None = None
    rerank: RerankService | None = None
    retriever: object | None = None
    retrieval: RetrievalService | None = None  # /v1/retrieve, composed of the two services' queues
    started: int = field(default_factory=lambda: int(time.time()))
    recent_hits: RecentHits = field(default_factory=RecentHits)  # media hits the page may ask thumbnails of

    def compose_retrieval(self) -> None:
        """/v1/retrieve over the served models' queues; a retriever's own models get their own."""
        r = self.retriever
        embedding = self.embedding if self.embedding is not None and self.embedding.embedder is r.embedder else \
            EmbeddingService(r.embedder, self.settings, self.metrics)
        rerank = None
        if r.reranker is not None:
            rerank = self.rerank if self.rerank is not None and self.rerank.reranker is r.reranker else \
                RerankService(r.reranker, self.settings, self.metrics)
        self.retrieval = RetrievalService(r, embedding, rerank)

    def models(self) -> list[tuple[str, str]]:
        out = []
        if self.embedding is not None:
            out.append((self.embedding.name, "embedding"))
        if self.rerank is not None:
            out.append((self.rerank.name, "rerank"))
        return out

    def model_names(self) -> list[str]:
        return [name for name, _ in self.models()]

    def batchers(self) -> list[DynamicBatcher]:
        services = [self.embedding, self.rerank]
        if self.retrieval is not None:
            services += [self.retrieval.embedding, self.retrieval.rerank]
        found: list[DynamicBatcher] = []
        for s in services:
            if s is not None and s.batcher not in found:
                found.append(s.batcher)
        return found

    def close(self) -> None:
        for b in self.batchers():
            b.close(timeout=30)  # uvicorn has already waited for in-flight requests; don't hang on exit
