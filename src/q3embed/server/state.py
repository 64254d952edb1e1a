"""What the endpoints share: settings, metrics and the served models."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from .batcher import DynamicBatcher
from .metrics import ServerMetrics
from .services import CHARS_PER_TOKEN_BOUND, EmbeddingService, RerankService
from .settings import ServerSettings


@dataclass
class ServerState:
    settings: ServerSettings
    metrics: ServerMetrics
    embedding: EmbeddingService | None = None
    rerank: RerankService | None = None
    retriever: object | None = None
    retrieve_batcher: DynamicBatcher | None = None  # the embedder's batcher, or one of its own
    started: int = field(default_factory=lambda: int(time.time()))

    @property
    def retrieve_char_limit(self) -> int:
        if self.settings.max_input_chars is not None:
            return self.settings.max_input_chars
        return self.embedding.char_limit if self.embedding else CHARS_PER_TOKEN_BOUND * 8192

    def retrieve_lock(self):
        """Hold the tokenizer locks while a retrieval tokenizes on its own."""
        stack = contextlib.ExitStack()
        for svc in (self.embedding, self.rerank):
            if svc is not None:
                stack.enter_context(svc.tokenizer_lock)
        return stack

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
        found = [s.batcher for s in (self.embedding, self.rerank) if s is not None]
        if self.retrieve_batcher is not None and self.retrieve_batcher not in found:
            found.append(self.retrieve_batcher)
        return found

    def close(self) -> None:
        for b in self.batchers():
            b.close(timeout=30)  # uvicorn has already waited for in-flight requests; don't hang on exit
