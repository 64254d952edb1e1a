"""A small client for any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, ...).

Transient failures (HTTP 429 and 5xx, connection errors, timeouts) are retried by tenacity with
exponential backoff and full jitter, honouring ``Retry-After``. A shared pacer enforces the
request-rate limit across threads. Every failure is counted in ``FailureCounts``.
"""

from __future__ import annotations

import random
import threading
import time

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ..errors import Q3EmbedError
from ..schema import ConfigDict, Field, TypedConfig
from .counts import FailureCounts


class EndpointError(Q3EmbedError):
    """The LLM endpoint cannot be used (unreachable, wrong model, refused the request)."""


class TransientError(Exception):
    """A failure worth retrying; ``kind`` is a FailureCounts key."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class RetryPolicy(TypedConfig):
    model_config = ConfigDict(frozen=True)
    max_retries: int = Field(5, ge=0)          # retries after the first try, per request
    backoff_base: float = Field(0.5, ge=0)     # seconds; doubles each retry
    backoff_max: float = Field(30.0, ge=0)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): the server's Retry-After when
        it sent one, else exponential with jitter; capped at ``backoff_max``."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        return random.uniform(0.5, 1.0) * min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    def wait(self, state: RetryCallState) -> float:
        """The tenacity wait strategy: ``delay`` for the failure tenacity just saw."""
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number, getattr(error, "retry_after", None))


class RatePacer:
    """At most ``rate`` request starts per second across all threads (None = unlimited)."""

    def __init__(self, rate: float | None):
        if rate is not None and rate <= 0:
            raise ValueError(f"rate limit must be > 0 requests/s, got {rate}")
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:  # reserve a slot, then sleep outside the lock
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        time.sleep(max(0.0, slot - now))


class ChatClient:
    """``chat(messages)`` -> the assistant's text, for one model on one endpoint.

    ``base_url`` is the OpenAI-style root, e.g. ``http://localhost:8000/v1``.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 120.0,
                 temperature: float = 0.7, max_tokens: int = 512, rate_limit: float | None = None,
                 retry: RetryPolicy = RetryPolicy(), counts: FailureCounts | None = None,
                 concurrency: int = 8):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retry = retry
        self.counts = counts or FailureCounts()
        self._pacer = RatePacer(rate_limit)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
        self._http = httpx.Client(timeout=timeout, headers=headers, limits=limits)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- preflight -----------------------------------------------------------------------

    def check(self) -> None:
        """Fail early, with a clear message, if the endpoint is unreachable or lacks the model."""
        url = f"{self.base_url}/models"
        try:
            r = self._http.get(url, timeout=10.0)
        except httpx.HTTPError as e:
            raise EndpointError(f"cannot reach the LLM endpoint {self.base_url} ({type(e).__name__}: {e}); "
                                f"start the server or pass the right --llm-base-url (e.g. http://localhost:8000/v1)") from None
        if r.status_code == 200:
            served = _model_ids(r)
            if served is not None and self.model not in served:
                raise EndpointError(f"model {self.model!r} is not served at {self.base_url}; "
                                    f"served models: {', '.join(sorted(served)) or '(none)'}")
            if served is not None:
                return
        # No usable model list (some servers lack /models): one tiny chat call decides.
        try:
            self.chat([{"role": "user", "content": "Reply with OK."}], max_tokens=2, retries=0)
        except TransientError as e:
            raise EndpointError(f"the LLM endpoint {self.base_url} failed a test request: {e}") from None

    # -- chat ----------------------------------------------------------------------------

    def chat(self, messages: list[dict], *, max_tokens: int | None = None, retries: int | None = None,
             temperature: float | None = None) -> str:
        """One chat completion; transient failures are retried, then re-raised as TransientError."""
        payload = {"model": self.model, "messages": messages,
                   "temperature": self.temperature if temperature is None else temperature,
                   "max_tokens": max_tokens or self.max_tokens}
        retries = self.retry.max_retries if retries is None else retries
        retrying = Retrying(stop=stop_after_attempt(retries + 1), wait=self.retry.wait,
                            retry=retry_if_exception_type(TransientError), reraise=True)
        return retrying(self._post, payload)

    def _post(self, payload: dict) -> str:
        self._pacer.wait()
        self.counts.add("requests")
        try:
            return self._request(payload)
        except TransientError as e:
            self.counts.add(e.kind)
            raise

    def _request(self, payload: dict) -> str:
        try:
            r = self._http.post(f"{self.base_url}/chat/completions", json=payload)
        except httpx.TimeoutException as e:
            raise TransientError("timeout", f"timed out: {e}") from None
        except httpx.HTTPError as e:
            raise TransientError("connect_error", f"{type(e).__name__}: {e}") from None
        if r.status_code == 429:
            raise TransientError("http_429", "HTTP 429 rate limited", _retry_after(r))
        if r.status_code >= 500:
            raise TransientError("http_5xx", f"HTTP {r.status_code}: {r.text[:200]}", _retry_after(r))
        if r.status_code >= 400:
            self.counts.add("http_4xx")
            raise EndpointError(f"the LLM endpoint refused the request: HTTP {r.status_code}: {r.text[:300]}"
                                + (" (is the base URL the OpenAI-style root ending in /v1?)" if r.status_code == 404 else ""))
        try:
            return r.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            # A reply that is not a chat completion at all: treat like a server hiccup.
            raise TransientError("http_5xx", f"not a chat completion response: {r.text[:200]}") from None


def _model_ids(r: httpx.Response) -> set[str] | None:
    try:
        return {m["id"] for m in r.json()["data"]}
    except (ValueError, KeyError, TypeError):
        return None


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return max(0.0, float(r.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
