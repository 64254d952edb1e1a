"""The served models: request inputs -> the engine's ``prepare`` -> the model's batcher -> ``postprocess``.

The server holds no tokenization, template or truncation logic of its own: every row comes
from the engine's runtime contract (``runtime/contract.py``) under the server's limits
(``InputLimits``), so the server's answers equal the library's on the same inputs. Limits are
checked before any tokenizing, and a request holds room in its model's queue before it
tokenizes, so load is shed with 429 before work is spent. Tokenizing takes no lock.

``/v1/retrieve`` is a composition (``RetrievalService``): the query embedding goes through the
embedding queue, the store is searched off the event loop, and the candidates are reranked
as rows of the rerank queue, each stage counted against its queue and budget like any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from fastapi.concurrency import run_in_threadpool

from ..errors import InputLimitError
from ..runtime.tokenize import InputLimits, char_guard
from .batcher import DynamicBatcher
from .errors import APIError
from .metrics import ServerMetrics
from .settings import ServerSettings

# Default character limit per input: ``char_guard`` (runtime/tokenize.py; 131,072 characters for
# max_length <= 8192), far above any real text, so giant texts are rejected before the tokenizer
# spends time on them. It is a guard, not the length rule (truncation, or the 400 without it,
# counts tokens).


_HINTS = {
    "input_too_long": "; shorten it, or send \"truncate\": true",
    "input_too_large": " (server setting max_input_chars)",
    "request_too_large": " (server setting max_request_chars)",
}


def _batcher(forward, packed: bool, settings: ServerSettings, metrics: ServerMetrics, name: str) -> DynamicBatcher:
    """The model's queue, counting its token budget by the model's own rule (``packed``: runtime/batching.py)."""
    return DynamicBatcher(
        forward, max_batch_tokens=settings.max_batch_tokens, max_batch_size=settings.max_batch_size,
        max_queue=settings.max_queue, max_wait_ms=settings.max_wait_ms, batching=settings.batching, name=name,
        on_batch=lambda rows, cost: metrics.batch_done(name, rows, cost), packed=packed,
    )


def _served_names(loaded_as: str, served: str | None) -> tuple[str, set[str]]:
    """The advertised name, and every name a request may use for the model."""
    name = served or loaded_as
    return name, {name, loaded_as, Path(loaded_as).name}


def _limits(settings: ServerSettings, max_length: int) -> InputLimits:
    return InputLimits(
        max_tokens=settings.max_input_tokens, truncate=settings.truncate,
        max_chars=settings.max_input_chars or char_guard(max_length),
        max_total_chars=settings.max_request_chars or settings.max_body_bytes,
    )


def _prepared(prepare: Callable[[], list[list[int]]], field: str,
              parts: dict[str, str] | None = None) -> list[list[int]]:
    """Run the engine's ``prepare``; an input it refuses becomes a 4xx naming the request's field.

    ``field`` names the inputs; a text that goes with each of them and is itself at fault (the
    engine's ``InputLimitError.part``: ``instruction``, ``query``) is named by its request field,
    ``parts`` mapping the engine's name to the request's (``{"query": "text_1"}``).
    """
    try:
        return prepare()
    except InputLimitError as e:
        param = field if e.part is None else (parts or {}).get(e.part, e.part)
        raise APIError(e.status, e.naming(field, parts) + _HINTS.get(e.code, ""), param=param, code=e.code) from None


class EmbeddingService:
    """One embedding model behind a dynamic batcher."""

    def __init__(self, embedder, settings: ServerSettings, metrics: ServerMetrics):
        self.embedder = embedder
        self.settings = settings
        self.name, self.aliases = _served_names(embedder.name, settings.embedding_model_name)
        self.limits = _limits(settings, embedder.max_length)
        # (B, H) pooled states; MRL and normalisation per request afterwards (``embed``).
        self.batcher = _batcher(lambda rows: embedder.forward(rows).cpu().numpy(), embedder.packed, settings,
                                metrics, self.name)

    def query_instruction(self) -> str | None:
        """The instruction ``Embedder.encode_queries`` would use."""
        return self.embedder.query_instruction

    def _with(self, truncate: bool | None) -> InputLimits:
        return self.limits if truncate is None else replace(self.limits, truncate=truncate)

    def text_rows(self, texts: list[str], instruction: str | None, truncate: bool | None,
                  field: str = "input") -> list[list[int]]:
        """Rows for texts, exactly as ``Embedder.encode`` makes them, under the server's limits."""
        return _prepared(lambda: self.embedder.prepare(texts, instruction, self._with(truncate)), field)

    def media_rows(self, inputs: list, instruction: str | None, truncate: bool | None,
                   field: str = "input") -> list[list[int]]:
        """Rows for multimodal inputs (Qwen3-VL: ``VLEmbedder.prepare``), images bounded by the settings."""
        from .media import image_limits

        return _prepared(lambda: self.embedder.prepare(inputs, instruction, self._with(truncate),
                                                       image_limits=image_limits(self.settings), field=field), field)

    def id_rows(self, ids: list[list[int]], truncate: bool | None) -> list[list[int]]:
        """Rows from client-given token ids, with the engine's EOS guarantee and vocabulary check."""
        if not hasattr(self.embedder, "prepare_ids"):  # a Qwen3-VL prompt is built by the server, not the client
            raise APIError(400, "token-id input is not accepted by a Qwen3-VL model; send text or images",
                           param="input", code="token_ids_not_supported")
        return _prepared(lambda: self.embedder.prepare_ids(ids, self._with(truncate)), "input")

    async def embed(self, make_rows: Callable[[], list[list[int]]], n: int, dim: int | None) -> tuple[np.ndarray, int]:
        """((n, dim) float32 vectors, tokens used) for the ``n`` rows ``make_rows()`` prepares; normalised as
        the checkpoint says (``Embedder.postprocess``)."""
        hidden, tokens = await _run(self.batcher, make_rows, n)  # (n, H)
        return self.embedder.postprocess(hidden, dim), tokens


class RerankService:
    """One Qwen3-Reranker behind a dynamic batcher."""

    def __init__(self, reranker, settings: ServerSettings, metrics: ServerMetrics):
        self.reranker = reranker
        self.settings = settings
        self.name, self.aliases = _served_names(reranker.name, settings.reranker_model_name)
        self.limits = _limits(settings, reranker.max_length)
        self.batcher = _batcher(lambda rows: reranker.postprocess(reranker.forward(rows)), reranker.packed,
                                settings, metrics, self.name)

    def pair_rows(self, pairs: list[tuple[str, str]], instruction: str | None, truncate: bool | None,
                  what: str = "documents", limits: InputLimits | None = None,
                  parts: dict[str, str] | None = None) -> list[list[int]]:
        """Rows for (query, document) pairs, exactly as ``Reranker.score_pairs`` makes them, under the limits."""
        limits = limits or (self.limits if truncate is None else replace(self.limits, truncate=truncate))
        if getattr(self.reranker, "is_vl", False):  # images in queries/documents, bounded by the settings
            from .media import image_limits

            return _prepared(lambda: self.reranker.prepare(pairs, instruction, limits, image_limits(self.settings),
                                                           field=what), what, parts)
        return _prepared(lambda: self.reranker.prepare(pairs, instruction, limits), what, parts)

    async def score(self, make_rows: Callable[[], list[list[int]]], n: int) -> tuple[np.ndarray, int]:
        """((n,) P(yes), tokens used) for the ``n`` pair rows ``make_rows()`` prepares."""
        return await _run(self.batcher, make_rows, n)


class RetrievalService:
    """``/v1/retrieve``: embed the query (embedding queue) -> search the store -> rerank (rerank queue).

    Computes what ``stores.Retriever.search`` computes, stage by stage through the served
    models' queues: no stage holds a lock across services, each is shed with 429 when its
    queue is full, and rerank rows are split into budgeted passes like any rerank request. The
    store is asked on every request (it re-reads its own commits), never a cached answer.
    """

    def __init__(self, retriever, embedding: EmbeddingService, rerank: RerankService | None):
        self.retriever = retriever
        self.embedding = embedding
        self.rerank = rerank

    @property
    def instruction(self) -> str | None:
        instruction = self.retriever.instruction
        return instruction if instruction is not None else self.embedding.query_instruction()

    async def search(self, query: str, top_k: int, rerank_top: int, mode: str = "dense", method: str | None = None,
                     timings: dict[str, float] | None = None) -> list:
        """Hits best first; ``timings`` (if given) gets each stage's wall time in ms: embed (not for
        lexical mode), search (both first stages and the fusion for hybrid), rerank."""
        timings = {} if timings is None else timings
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000, 3)
            clock = now

        depth = max(rerank_top, top_k) if self.rerank is not None else top_k
        if self.rerank is not None:
            # The query and instruction go with every candidate: bound that work before any is done.
            per_row = len(query if isinstance(query, str) else query.text or "") + len(self.retriever.rerank_instruction or "")
            if per_row * depth > self.rerank.limits.max_total_chars:
                raise APIError(413, f"query: {len(query)} characters x rerank depth {depth} passes the limit of "
                                    f"{self.rerank.limits.max_total_chars} characters per request (server setting "
                                    "max_request_chars); shorten the query or lower rerank_top",
                               param="query", code="request_too_large")
        # Room in the rerank queue is held from the start, so a retrieve is shed before any work.
        with self.rerank.batcher.reserve(depth) if self.rerank is not None else contextlib.nullcontext() as slot:
            queries = [query]
            text = query if isinstance(query, str) else (query.text or "")  # an image query: its caption, if any
            if mode != "lexical":
                rows = (self.embedding.text_rows if isinstance(query, str) else self.embedding.media_rows)
                queries, _ = await self.embedding.embed(
                    lambda: rows([query], self.instruction, None, field="query"), 1, self.retriever.index.spec.dim)
                lap("embed")
            try:
                hits = (await run_in_threadpool(self.retriever.index.search, queries, top_k=depth, mode=mode,
                                                method=method or "exact", texts=[text]))[0]
            except ValueError as e:  # e.g. a search method the index does not have
                raise APIError(400, f"retrieval failed: {e}", code="invalid_search") from None
            lap("search")
            if slot is None or not hits:
                return hits[:top_k]
            pairs = [(query, _rerank_document(h, self.rerank.reranker)) for h in hits]
            rows = await run_in_threadpool(self.rerank.pair_rows, pairs, self.retriever.rerank_instruction, True,
                                           "query", InputLimits())  # the library's truncation, as Retriever's
            future = slot.submit(rows)
        scores = await asyncio.wrap_future(future)  # (n,) P(yes)
        lap("rerank")  # tokenizing the pairs, waiting in the rerank queue, the forward passes
        for h, s in zip(hits, scores.tolist()):
            h.rerank_score = float(s)
        return sorted(hits, key=lambda h: -h.rerank_score)[:top_k]


def _rerank_document(hit, reranker):
    """A hit as the reranker reads it: an image or PDF page for a Qwen3-VL reranker, else its text."""
    if getattr(reranker, "is_vl", False):
        from ..data.pages import document_input

        doc = document_input(hit.meta, hit.text)
        if not isinstance(doc, str) and "image" in (hit.meta or {}) and not str(hit.meta["image"]).startswith("data:"):
            # the index's own file, not a client's path: read here, so --image-root does not apply to it
            doc = replace(doc, images=(Path(hit.meta["image"]).read_bytes(),))
        return doc
    return hit.text


async def _run(batcher: DynamicBatcher, make_rows: Callable[[], list[list[int]]], n: int) -> tuple[np.ndarray, int]:
    """Reserve room for ``n`` rows (429 at once if there is none), prepare off the event loop, run."""
    with batcher.reserve(n) as slot:
        rows = await run_in_threadpool(make_rows)
        future = slot.submit(rows)
    return await asyncio.wrap_future(future), sum(len(r) for r in rows)
