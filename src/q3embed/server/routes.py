"""The endpoints: /v1/embeddings, /v1/rerank (+ /v2/rerank), /v1/score, /v1/retrieve, /v1/models, /health, /metrics."""

from __future__ import annotations

import base64
import json
import time
import uuid
from functools import partial

import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..config import MRL_MIN_DIM
from .body import parse_body
from .errors import APIError
from .media import item_input, messages_input, require_vl
from .metrics import CONTENT_TYPE
from .openapi import ERROR_RESPONSES, body_schema
from .schemas import EmbeddingRequest, MediaItem, RerankRequest, RetrieveRequest, ScoreRequest
from .state import ServerState

router = APIRouter()

# Token ids from another tokenizer (LangChain's OpenAIEmbeddings sends tiktoken ids by default) would
# be read as different Qwen tokens and give wrong vectors without any error: ids must be declared.
TOKEN_IDS_UNDECLARED = (
    "input is token ids, which are accepted only with \"token_vocab\": \"model\" (ids in this model's own "
    "vocabulary); OpenAI-style clients send ids of another vocabulary (tiktoken): send text instead (LangChain "
    "OpenAIEmbeddings: check_embedding_ctx_length=False)")


def _state(request: Request) -> ServerState:
    return request.app.state.q3


def _check_model(requested: str | None, service, kind: str, state: ServerState) -> None:
    """404 unless ``requested`` is None or one of the names ``service`` answers to."""
    if service is None:
        raise APIError(404, f"no {kind.split()[-1]} model is loaded on this server; served models: {state.model_names()}",
                       param="model", code="model_not_found")
    if requested is not None and requested not in service.aliases:
        raise APIError(404, f"model {requested!r} is not served as {kind} model here; use {service.name!r} "
                            f"(served models: {state.model_names()})", param="model", code="model_not_found")


def _check_items(n: int, limit: int, field: str) -> None:
    if n == 0:
        raise APIError(400, f"{field} is empty; send at least one item", param=field, code="empty_input")
    if n > limit:
        raise APIError(413, f"{field} has {n} items; the limit is {limit} per request", param=field,
                       code="too_many_items")


async def _open(request: Request, schema, service: str, kind: str):
    """(state, parsed body, the service asked for), after the model name check."""
    state = _state(request)
    req = await parse_body(request, schema, state.settings.max_body_bytes)
    svc = getattr(state, service)
    _check_model(req.model, svc, kind, state)
    return state, req, svc


@router.post("/v1/embeddings", openapi_extra=body_schema(EmbeddingRequest), responses=ERROR_RESPONSES)
async def embeddings(request: Request) -> JSONResponse:
    state, req, svc = await _open(request, EmbeddingRequest, "embedding", "an embedding")
    width = svc.embedder.width
    if req.dimensions is not None and not MRL_MIN_DIM <= req.dimensions <= width:
        raise APIError(400, f"dimensions must be an integer in {MRL_MIN_DIM}..{width} for this model, "
                            f"got {req.dimensions}", param="dimensions", code="invalid_dimensions")
    if req.messages is not None or (isinstance(req.input, list) and any(isinstance(x, MediaItem) for x in req.input)):
        return await _media_embeddings(state, req, svc)
    inputs = req.input
    token_input = isinstance(inputs, list) and inputs and not isinstance(inputs[0], str)
    if isinstance(inputs, str):
        inputs = [inputs]
    elif token_input and isinstance(inputs[0], int):
        inputs = [inputs]  # one token-id list
    _check_items(len(inputs), state.settings.max_items, "input")
    if token_input:
        if req.token_vocab != "model":
            raise APIError(400, TOKEN_IDS_UNDECLARED, param="input", code="token_ids_not_declared")
        if req.instruction is not None or req.input_type == "query":
            raise APIError(400, "token-id input is fed as it is, so no instruction can be applied; send text, or "
                                "tokenize 'Instruct: {task}\\nQuery:{query}' yourself", param="input",
                           code="instruction_with_token_ids")
        make_rows = partial(svc.id_rows, inputs, req.truncate)
    else:
        if req.input_type == "document" and req.instruction is not None:
            raise APIError(400, "input_type 'document' takes no instruction; use input_type 'query' or drop "
                                "'instruction'", param="instruction", code="instruction_with_documents")
        instruction = req.instruction
        if instruction is None and req.input_type == "query":
            instruction = svc.query_instruction()
        make_rows = partial(svc.text_rows, inputs, instruction, req.truncate)
    vectors, n_tokens = await svc.embed(make_rows, len(inputs), req.dimensions)  # (N, d) float32
    state.metrics.tokens("/v1/embeddings", n_tokens)
    # Thousands of vectors as JSON floats take a while to write: do it off the event loop.
    body = await run_in_threadpool(_embedding_body, vectors, req.encoding_format, svc.name, n_tokens)
    return Response(body, media_type="application/json")


async def _media_embeddings(state, req, svc) -> Response:
    """Qwen3-VL inputs: ``{"text", "image"}`` items or vLLM-style chat ``messages`` (server/media.py)."""
    field = "messages" if req.messages is not None else "input"
    require_vl(svc.embedder, field)
    if req.messages is not None:
        item, instruction = messages_input(req.messages)
        inputs = [item]
        if instruction is not None and req.instruction is not None:
            raise APIError(400, "the instruction is given twice (a system message and 'instruction')",
                           param="instruction", code="invalid_input")
        instruction = instruction if instruction is not None else req.instruction
    else:
        inputs = [item_input(x, "input", i) for i, x in enumerate(req.input)]
        instruction = req.instruction
    _check_items(len(inputs), state.settings.max_items, field)
    if instruction is None and req.input_type == "query":
        instruction = svc.query_instruction()
    make_rows = partial(svc.media_rows, inputs, instruction, req.truncate, field)
    vectors, n_tokens = await svc.embed(make_rows, len(inputs), req.dimensions)  # (N, d) float32
    state.metrics.tokens("/v1/embeddings", n_tokens)
    body = await run_in_threadpool(_embedding_body, vectors, req.encoding_format, svc.name, n_tokens)
    return Response(body, media_type="application/json")


def _embedding_body(vectors: np.ndarray, encoding_format: str, model: str, n_tokens: int) -> bytes:
    data = [{"object": "embedding", "index": i, "embedding": _encode_vector(v, encoding_format)}
            for i, v in enumerate(vectors)]
    payload = {"object": "list", "data": data, "model": model,
               "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _encode_vector(v: np.ndarray, encoding_format: str):
    if encoding_format == "base64":  # what the openai client asks for by default: little-endian float32
        return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode("ascii")
    return v.tolist()


@router.post("/v1/rerank", openapi_extra=body_schema(RerankRequest), responses=ERROR_RESPONSES)
@router.post("/v2/rerank", openapi_extra=body_schema(RerankRequest), responses=ERROR_RESPONSES)
async def rerank(request: Request) -> JSONResponse:
    state, req, svc = await _open(request, RerankRequest, "rerank", "a rerank")
    _check_items(len(req.documents), state.settings.max_items, "documents")
    texts = [_rerank_input(d, i) for i, d in enumerate(req.documents)]
    query = req.query if isinstance(req.query, str) else item_input(req.query, "query")
    if any(not isinstance(t, str) for t in [query, *texts]):
        require_vl(svc.reranker, "documents" if isinstance(query, str) else "query")
    make_rows = partial(svc.pair_rows, [(query, t) for t in texts], req.instruction, req.truncate)
    scores, n_tokens = await svc.score(make_rows, len(texts))  # (N,)
    state.metrics.tokens("/v1/rerank", n_tokens)
    order = np.argsort(-scores, kind="stable")[: req.top_n]
    results = []
    for i in order:
        item = {"index": int(i), "relevance_score": float(scores[i])}
        if req.return_documents:
            doc = req.documents[i]
            item["document"] = {"text": doc} if isinstance(doc, str) else doc.model_dump(exclude_unset=True)
        results.append(item)
    return JSONResponse({"id": str(uuid.uuid4()), "model": svc.name, "results": results,
                         "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
                         "meta": {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}}})


def _rerank_input(d, i: int):
    """A document's text, or (Qwen3-VL) its text and images as one input."""
    if isinstance(d, str):
        return d
    if d.image is None and not d.images:
        if d.text is None:
            raise APIError(422, f"documents[{i}] has neither 'text' nor 'image' (a data: URL, Qwen3-VL)",
                           param="documents", code="missing_field")
        return d.text
    return item_input(d, "documents", i)


@router.post("/v1/score", openapi_extra=body_schema(ScoreRequest), responses=ERROR_RESPONSES)
async def score(request: Request) -> JSONResponse:
    state, req, svc = await _open(request, ScoreRequest, "rerank", "a rerank")
    left = [req.text_1] if isinstance(req.text_1, str) else req.text_1
    right = [req.text_2] if isinstance(req.text_2, str) else req.text_2
    if len(left) == 1:
        left = left * len(right)
    elif len(left) != len(right):
        raise APIError(400, f"text_1 has {len(left)} texts and text_2 has {len(right)}; send one text_1, "
                            "or lists of equal length", param="text_2", code="length_mismatch")
    _check_items(len(right), state.settings.max_items, "text_2")
    # A text_1 shared by every pair is the engine's "query": over-long, it is named as text_1.
    make_rows = partial(svc.pair_rows, list(zip(left, right)), req.instruction, req.truncate, "text_2",
                        parts={"query": "text_1"})
    scores, n_tokens = await svc.score(make_rows, len(right))
    state.metrics.tokens("/v1/score", n_tokens)
    return JSONResponse({"id": f"score-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
                         "model": svc.name,
                         "data": [{"index": i, "object": "score", "score": float(s)} for i, s in enumerate(scores)],
                         "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}})


@router.post("/v1/retrieve", openapi_extra=body_schema(RetrieveRequest), responses=ERROR_RESPONSES)
async def retrieve(request: Request) -> JSONResponse:
    state = _state(request)
    req = await parse_body(request, RetrieveRequest, state.settings.max_body_bytes)
    if state.retriever is None:
        raise APIError(503, "no index loaded: start the server with --index PATH to use /v1/retrieve",
                       code="no_index")
    if req.model is not None and state.embedding is not None:
        _check_model(req.model, state.embedding, "an embedding", state)
    timings: dict[str, float] = {}  # ms per stage: embed, search and (with a reranker) rerank
    query = req.query
    if isinstance(query, str) and not query.strip():  # as `q3embed search ""`: nothing to search for
        raise APIError(400, "query is empty; send the text to search for", param="query", code="empty_input")
    if not isinstance(query, str):  # an image query (Qwen3-VL)
        query = item_input(query, "query")
        require_vl(state.embedding.embedder if state.embedding is not None else None, "query")
        if req.mode != "dense":
            raise APIError(400, f"an image query searches dense vectors only; got mode {req.mode!r}", param="mode",
                           code="invalid_search")
    hits = await state.retrieval.search(query, top_k=req.top_k, rerank_top=req.rerank_top, mode=req.mode,
                                        method=req.method, timings=timings)
    state.recent_hits.remember(hits)  # so /v1/thumbnail finds them in stores without a by-id lookup
    results = [_hit_dict(h, req.return_text) for h in hits]
    shown = req.query if isinstance(req.query, str) else req.query.model_dump(exclude_unset=True)
    return JSONResponse({"object": "list", "query": shown, "results": results, "timings_ms": timings})


def _public_meta(meta: dict, doc_id: str) -> dict:
    """A hit's meta as a client sees it: where the server read a file from (``path`` of a text folder,
    ``image``/``pdf`` of a media folder) is an absolute path on the server's disk, so it is replaced by
    the file's name within the corpus. The key stays, so a client still sees the hit is an image or a
    page; its thumbnail comes from ``/v1/thumbnail?id=``."""
    import os

    return {k: (meta.get("file", doc_id) if k in ("path", "image", "pdf") and isinstance(v, str)
                and os.path.isabs(v) else v) for k, v in meta.items()}


def _hit_dict(hit, with_text: bool) -> dict:
    if hasattr(hit, "to_dict"):
        d = hit.to_dict(with_text=with_text)
    else:  # any object with the Hit contract: id, score, and maybe rerank_score, text
        d = {"id": hit.id, "score": hit.score}
        if getattr(hit, "rerank_score", None) is not None:
            d["rerank_score"] = hit.rerank_score
        if with_text and getattr(hit, "text", None) is not None:
            d["text"] = hit.text
    if isinstance(d.get("meta"), dict):
        d["meta"] = _public_meta(d["meta"], d["id"])
    d["score"] = float(d["score"])
    if d.get("rerank_score") is not None:
        d["rerank_score"] = float(d["rerank_score"])
    return d


@router.get("/v1/models", responses=ERROR_RESPONSES)
@router.head("/v1/models", include_in_schema=False)  # HEAD answers like GET, without the body (RFC 9110)
async def models(request: Request) -> JSONResponse:
    state = _state(request)
    data = [{"id": name, "object": "model", "created": state.started, "owned_by": "q3embed", "kind": kind}
            for name, kind in state.models()]
    return JSONResponse({"object": "list", "data": data})


@router.get("/health")
@router.head("/health", include_in_schema=False)  # load balancers' cheapest probe
async def health(request: Request) -> JSONResponse:
    state = _state(request)
    return JSONResponse({"status": "ok", "models": state.model_names(), "index": state.retriever is not None})


@router.get("/metrics", responses=ERROR_RESPONSES)
@router.head("/metrics", include_in_schema=False)
async def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_state(request).metrics.render(), media_type=CONTENT_TYPE)
