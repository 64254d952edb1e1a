"""Server settings: limits, batching and safety switches, as plain validated data (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs besides the models.

    Limits are counted in *rows*: one input to embed, or one (query, document) pair to score.
    """

    api_key: str | None = None  # None: no auth. Set: every /v1 route and /metrics need "Bearer <key>"
    max_batch_tokens: int = 16384  # tokens per forward pass, by the model's rule: the sum for packed Qwen3, rows x longest for padded
    max_batch_size: int = 64  # rows per forward pass
    batching: bool = True  # False: each request runs alone (for comparison)
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for company
    max_queue: int = 4096  # rows waiting or running per model; beyond it -> 429
    max_items: int = 2048  # inputs (or documents) per request; beyond it -> 413
    max_body_bytes: int = 8 * 1024 * 1024  # request body; beyond it -> 413
    max_input_tokens: int | None = None  # None: the model's max_length
    max_input_chars: int | None = None  # None: 16 x max(the model's max_length, 8192); over it -> 413, before tokenizing
    # Characters one request makes the tokenizer read, an instruction or rerank query counted once per
    # input it goes with (a short body can repeat a long one 2048 times). None: max_body_bytes. Over it -> 413.
    max_request_chars: int | None = None
    truncate: bool = True  # over-long inputs: truncate (True) or 400 (False); a request may override
    embedding_model_name: str | None = None  # served names; None: the name the model was loaded by
    reranker_model_name: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)  # empty: CORS off
    # Slow clients (see ``server/guard.py`` and ``server/http.py``): a connection must send a complete
    # request head within header_timeout_s of connecting (or of its first byte after keep-alive), and
    # the whole body within body_timeout_s of its head; otherwise it is closed (body: 408 first).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_header_bytes: int = 16384  # request line + headers; beyond it -> 400 and close (h11's own limit)

    def __post_init__(self) -> None:
        positive = ("max_batch_tokens", "max_batch_size", "max_queue", "max_items", "max_body_bytes",
                    "max_header_bytes")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_items > self.max_queue:
            raise ValueError(
                f"max_items ({self.max_items}) must not exceed max_queue ({self.max_queue}): "
                "a request of max_items inputs must fit in an empty queue"
            )
        if self.max_input_tokens is not None and self.max_input_tokens < 2:
            raise ValueError(f"max_input_tokens must be >= 2, got {self.max_input_tokens}")
        if self.max_input_chars is not None and self.max_input_chars < 1:
            raise ValueError(f"max_input_chars must be >= 1, got {self.max_input_chars}")
        if self.max_request_chars is not None and self.max_request_chars < 1:
            raise ValueError(f"max_request_chars must be >= 1, got {self.max_request_chars}")
        for name in ("header_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be a non-empty string (or None for no auth)")
