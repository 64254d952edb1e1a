"""The served models: request inputs -> checked token ids -> the batcher -> results.

Token ids are made exactly as ``Embedder.encode`` / ``Reranker.score`` make them, with the
server's token limit in place of the model's ``max_length``; so the server's answers equal the
library's on the same inputs. Tokenizing one row past the limit tells "fits" from "too long"
without tokenizing anything twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from fastapi.concurrency import run_in_threadpool

from ..runtime.pooling import mrl_truncate
from ..runtime.tokenize import EmbeddingTokenizer, RerankTokenizer, format_query
from .batcher import DynamicBatcher
from .errors import APIError
from .metrics import ServerMetrics
from .settings import ServerSettings

# Default character limit per input = 16 x the model's max_length (131,072 for Qwen3's 8192): far
# above any real text that fits, and it rejects giant texts before the tokenizer spends time on them.
CHARS_PER_TOKEN_BOUND = 16


def _batcher(forward, settings: ServerSettings, metrics: ServerMetrics, name: str) -> DynamicBatcher:
    return DynamicBatcher(
        forward, max_batch_tokens=settings.max_batch_tokens, max_batch_size=settings.max_batch_size,
        max_queue=settings.max_queue, max_wait_ms=settings.max_wait_ms, batching=settings.batching, name=name,
        on_batch=lambda rows, padded: metrics.batch_done(name, rows, padded),
    )


def _served_names(loaded_as: str, served: str | None) -> tuple[str, set[str]]:
    """The advertised name, and every name a request may use for the model."""
    name = served or loaded_as
    return name, {name, loaded_as, Path(loaded_as).name}


def _check_chars(texts: list[str], limit: int, what: str) -> None:
    for i, t in enumerate(texts):
        if len(t) > limit:
            raise APIError(413, f"{what}[{i}] has {len(t)} characters; the limit is {limit} characters "
                                "per input (server setting max_input_chars)",
                           param=what, code="input_too_large")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            raise APIError(400, f"{what}[{i}] holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode text",
                           param=what, code="invalid_text") from None


class EmbeddingService:
    """One embedding model behind a dynamic batcher."""

    def __init__(self, embedder, settings: ServerSettings, metrics: ServerMetrics):
        self.embedder = embedder
        self.name, self.aliases = _served_names(embedder.name, settings.embedding_model_name)
        self.limit = min(settings.max_input_tokens or embedder.max_length, embedder.max_length)
        self.char_limit = settings.max_input_chars or CHARS_PER_TOKEN_BOUND * embedder.max_length
        self.truncate = settings.truncate
        self.is_decoder = embedder.layout.is_decoder
        self._tok = EmbeddingTokenizer(embedder.tokenizer, self.is_decoder, self.limit + 1)
        self.eos_id = self._tok.eos_id if self.is_decoder else None
        self.vocab_size = int(embedder.model.get_input_embeddings().num_embeddings)
        # Fast tokenizers raise "Already borrowed" when two threads tokenize with truncation at once.
        self.tokenizer_lock = threading.Lock()
        self.batcher = _batcher(self._forward, settings, metrics, self.name)

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        return self.embedder.embed_ids(rows).cpu().numpy()  # (B, H) float32, before MRL/normalisation

    def query_instruction(self) -> str | None:
        """The instruction ``Embedder.encode_queries`` would use."""
        return self.embedder.query_instruction

    def text_rows(self, texts: list[str], instruction: str | None, truncate: bool | None) -> list[list[int]]:
        """Token ids for texts, as ``Embedder.tokenize`` makes them at the server's limit."""
        _check_chars(texts, self.char_limit, "input")
        if instruction is not None:
            texts = [format_query(instruction, t) if self.is_decoder else instruction + t for t in texts]
        with self.tokenizer_lock:
            rows = self._tok(texts)  # at most limit + 1 tokens each
        return [self._fit(row, i, truncate) for i, row in enumerate(rows)]

    def id_rows(self, ids: list[list[int]], truncate: bool | None) -> list[list[int]]:
        """Token ids given by the client: fed as they are, plus the EOS guarantee for Qwen3."""
        rows = []
        for i, row in enumerate(ids):
            bad = next((t for t in row if not 0 <= t < self.vocab_size), None)
            if bad is not None:
                raise APIError(400, f"input[{i}] holds token id {bad}; ids must be in 0..{self.vocab_size - 1}",
                               param="input", code="invalid_token_id")
            if self.is_decoder:
                end = len(row)
                while end and row[end - 1] == self.eos_id:  # already ends in <|endoftext|>: keep one
                    end -= 1
                row = row[: min(end, self.limit)] + [self.eos_id]  # limit + 1 at most, like text rows
            elif not row:
                raise APIError(400, f"input[{i}] is an empty token list", param="input", code="empty_input")
            rows.append(self._fit(row, i, truncate))
        return rows

    def _fit(self, row: list[int], i: int, truncate: bool | None) -> list[int]:
        if len(row) <= self.limit:
            return row
        if self.truncate if truncate is None else truncate:
            return row[: self.limit - 1] + row[-1:]  # keep the closing token (<|endoftext|> or [SEP])
        raise APIError(400, f"input[{i}] is longer than the limit of {self.limit} tokens; shorten it, "
                            "or send \"truncate\": true", param="input", code="input_too_long")

    async def embed(self, make_rows: Callable[[], list[list[int]]], n: int, dim: int | None) -> tuple[np.ndarray, int]:
        """((n, dim) float32 L2-normalised vectors, tokens used) for the ``n`` rows ``make_rows()`` tokenizes."""
        hidden, tokens = await _run(self.batcher, make_rows, n)  # (n, H)
        return mrl_truncate(torch.from_numpy(hidden), dim, normalize=True).numpy(), tokens


class RerankService:
    """One Qwen3-Reranker behind a dynamic batcher."""

    def __init__(self, reranker, settings: ServerSettings, metrics: ServerMetrics):
        self.reranker = reranker
        self.name, self.aliases = _served_names(reranker.name, settings.reranker_model_name)
        self._fixed = len(RerankTokenizer(reranker.tokenizer, reranker.max_length).prefix_ids) + len(
            RerankTokenizer(reranker.tokenizer, reranker.max_length).suffix_ids)
        # max_input_tokens bounds the pair text (instruction, query, document); the fixed chat
        # template comes on top, and the model's max_length caps the whole.
        wanted = reranker.max_length if settings.max_input_tokens is None else self._fixed + settings.max_input_tokens
        self.limit = min(wanted, reranker.max_length)
        self.char_limit = settings.max_input_chars or CHARS_PER_TOKEN_BOUND * reranker.max_length
        self.truncate = settings.truncate
        self._tok = RerankTokenizer(reranker.tokenizer, self.limit + 1)
        self.tokenizer_lock = threading.Lock()
        self.batcher = _batcher(self._forward, settings, metrics, self.name)

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        return self.reranker.score_ids(rows).cpu().numpy()  # (B,) P(yes)

    def pair_rows(self, pairs: list[tuple[str, str]], instruction: str | None, truncate: bool | None,
                  what: str = "documents") -> list[list[int]]:
        """Token ids for (query, document) pairs, as ``Reranker.score_pairs`` makes them at the limit."""
        from ..config import DEFAULT_RERANK_INSTRUCTION

        _check_chars([q + d for q, d in pairs], self.char_limit, what)
        instruction = DEFAULT_RERANK_INSTRUCTION if instruction is None else instruction
        with self.tokenizer_lock:
            rows = self._tok(pairs, instruction)
        prefix, suffix = len(self._tok.prefix_ids), len(self._tok.suffix_ids)
        out = []
        for i, row in enumerate(rows):
            if len(row) > self.limit:
                if not (self.truncate if truncate is None else truncate):
                    raise APIError(400, f"{what}[{i}]: the query and document take more than the limit of "
                                        f"{self.limit} tokens; shorten them, or send \"truncate\": true",
                                   param=what, code="input_too_long")
                middle = row[prefix: len(row) - suffix]
                row = row[:prefix] + middle[: self.limit - self._fixed] + row[len(row) - suffix:]
            out.append(row)
        return out

    async def score(self, make_rows: Callable[[], list[list[int]]], n: int) -> tuple[np.ndarray, int]:
        """((n,) P(yes), tokens used) for the ``n`` pair rows ``make_rows()`` tokenizes."""
        return await _run(self.batcher, make_rows, n)


async def _run(batcher: DynamicBatcher, make_rows: Callable[[], list[list[int]]], n: int) -> tuple[np.ndarray, int]:
    """Reserve room for ``n`` rows (429 at once if there is none), tokenize off the event loop, run."""
    with batcher.reserve(n) as slot:
        rows = await run_in_threadpool(make_rows)
        future = slot.submit(rows)
    return await asyncio.wrap_future(future), sum(len(r) for r in rows)
