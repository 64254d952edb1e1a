"""``create_app``: the FastAPI application serving an embedder, a reranker and a retriever.

    >>> from q3embed import Embedder, Reranker
    >>> from q3embed.server import create_app, ServerSettings
    >>> app = create_app(Embedder.load("Qwen/Qwen3-Embedding-0.6B"), Reranker.load("Qwen/Qwen3-Reranker-0.6B"),
    ...                  settings=ServerSettings(api_key="secret"))
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .auth import is_authorized
from .batcher import BatcherClosedError, QueueFullError
from .errors import APIError, error_response, validation_error
from .guard import CLIENT_CLOSED, BodyTimeoutError, serve_guarded
from .metrics import ServerMetrics
from .page import PAGE_PATH
from .page import router as page_router
from .routes import router
from .services import EmbeddingService, RerankService
from .settings import ServerSettings
from .state import ServerState
from .thumbnails import THUMBNAIL_PATH
from .thumbnails import router as thumbnail_router

log = logging.getLogger("q3embed.server")

OPEN_PATHS = ("/health", PAGE_PATH)  # answered without the key: load balancers; the page (it holds no secret)
KNOWN_PATHS = (PAGE_PATH, "/v1/embeddings", "/v1/rerank", "/v2/rerank", "/v1/score", "/v1/retrieve", "/v1/models",
               "/health", "/metrics", THUMBNAIL_PATH)


def create_app(embedder=None, reranker=None, retriever=None, settings: ServerSettings | None = None) -> FastAPI:
    """Build the app. Any of the three may be None; its endpoints then answer 404 (503 for retrieve)."""
    settings = settings or ServerSettings()
    if embedder is None and reranker is None and retriever is None:
        raise ValueError("create_app needs at least one of embedder, reranker, retriever")
    metrics = ServerMetrics()
    state = ServerState(settings=settings, metrics=metrics, retriever=retriever)
    if embedder is not None:
        state.embedding = EmbeddingService(embedder, settings, metrics)
    if reranker is not None:
        state.rerank = RerankService(reranker, settings, metrics)
    if retriever is not None:
        state.compose_retrieval()
    metrics.gauge("q3embed_queue_rows", "rows waiting for a forward pass, per model",
                  lambda: {(("model", b.name),): b.queued_rows for b in state.batchers()})
    metrics.gauge("q3embed_running_rows", "rows in the forward pass now, per model",
                  lambda: {(("model", b.name),): b.running_rows for b in state.batchers()})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        # Runs after uvicorn has finished in-flight requests (SIGTERM): drain and stop the workers.
        # Off the event loop, so requests cancelled past the grace period can still send their 503.
        await asyncio.to_thread(state.close)

    app = FastAPI(title="q3embed", version=_version(), lifespan=lifespan)
    app.state.q3 = state
    app.include_router(router)
    app.include_router(page_router)
    app.include_router(thumbnail_router)
    _install_error_handlers(app)
    app.add_middleware(AccessMiddleware, state=state)
    if settings.cors_origins:  # added last = outermost, so preflight OPTIONS never meets the auth check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        return e.response()

    @app.exception_handler(QueueFullError)
    async def _queue_full(request: Request, e: QueueFullError):
        return error_response(429, str(e), code="queue_full", headers={"Retry-After": str(e.retry_after)})

    @app.exception_handler(BatcherClosedError)
    async def _closing(request: Request, e: BatcherClosedError):
        return error_response(503, "server is shutting down; retry on another replica", code="shutting_down",
                              headers={"Retry-After": "1"})

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, e: ClientDisconnect):
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it; no traceback for a hang-up

    @app.exception_handler(BodyTimeoutError)
    async def _slow_body(request: Request, e: BodyTimeoutError):
        return error_response(408, str(e), code="body_timeout", headers={"Connection": "close"})

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, e: ValidationError):
        return validation_error(e).response()

    @app.exception_handler(RequestValidationError)
    async def _fastapi_validation(request: Request, e: RequestValidationError):
        return error_response(422, f"invalid request: {e.errors()[:3]}", code="validation_error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        message = {404: f"no route {request.url.path}; routes: {', '.join(KNOWN_PATHS)}",
                   405: f"method {request.method} is not allowed on {request.url.path}"}.get(e.status_code, str(e.detail))
        return error_response(e.status_code, message, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error_response(500, f"internal error: {type(e).__name__}: {e}"[:500], code="internal_error")


class AccessMiddleware:
    """Bearer-key check, per-request metrics and the request guard (``guard.py``), as plain ASGI."""

    def __init__(self, app, state: ServerState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status = 500
        start = time.perf_counter()

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            head_bytes = sum(len(k) + len(v) for k, v in scope.get("headers", ()))
            if head_bytes > self.state.settings.max_header_bytes:
                # h11 bounds a head that arrives in pieces; one that arrives whole is bounded here.
                response = error_response(431, f"request headers take {head_bytes} bytes; the limit is "
                                               f"{self.state.settings.max_header_bytes}", code="headers_too_large",
                                          headers={"Connection": "close"})
                await response(scope, receive, send_with_status)
            elif path not in OPEN_PATHS and not is_authorized(_header(scope, b"authorization"),
                                                            self.state.settings.api_key):
                response = error_response(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                          code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send_with_status)
            elif await serve_guarded(self.app, scope, receive, send_with_status,
                                     self.state.settings.body_timeout_s) == CLIENT_CLOSED:
                status = CLIENT_CLOSED
        finally:
            self.state.metrics.request_done(endpoint, status, time.perf_counter() - start)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
