"""Server settings: limits, batching and safety switches, as a typed config (``q3embed.schema``; no torch)."""

from __future__ import annotations

from ..schema import ConfigDict, Field, TypedConfig, model_validator


class ServerSettings(TypedConfig):
    """Everything ``create_app`` needs besides the models.

    Limits are counted in *rows*: one input to embed, or one (query, document) pair to score.
    A bad value raises ``ConfigError`` (a ValueError) naming the setting and what is accepted.
    """

    model_config = ConfigDict(frozen=True)
    noun = "server setting"

    api_key: str | None = None  # None: no auth. Set: every /v1 route and /metrics need "Bearer <key>"
    max_batch_tokens: int = Field(16384, ge=1)  # tokens per forward pass, by the model's rule: the sum for packed Qwen3, rows x longest for padded
    max_batch_size: int = Field(64, ge=1)  # rows per forward pass
    batching: bool = True  # False: each request runs alone (for comparison)
    max_wait_ms: float = Field(2.0, ge=0)  # how long the first request of a batch waits for company
    max_queue: int = Field(4096, ge=1)  # rows waiting or running per model; beyond it -> 429
    max_items: int = Field(2048, ge=1)  # inputs (or documents) per request; beyond it -> 413
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1)  # request body; beyond it -> 413
    max_input_tokens: int | None = Field(None, ge=2)  # None: the model's max_length
    max_input_chars: int | None = Field(None, ge=1)  # None: 16 x max(the model's max_length, 8192); over it -> 413, before tokenizing
    # Characters one request makes the tokenizer read, an instruction or rerank query counted once per
    # input it goes with (a short body can repeat a long one 2048 times). None: max_body_bytes. Over it -> 413.
    max_request_chars: int | None = Field(None, ge=1)
    truncate: bool = True  # over-long inputs: truncate (True) or 400 (False); a request may override
    # Qwen3-VL images (server/media.py): per request, checked before any pixel is decoded; over -> 413.
    max_images: int = Field(64, ge=1)
    max_image_pixels: int = Field(64_000_000, ge=1)  # width x height of one image as its header declares it
    max_total_pixels: int = Field(256_000_000, ge=1)
    image_root: str | None = None  # None: images only as data: URLs; a folder: file paths inside it too
    embedding_model_name: str | None = None  # served names; None: the name the model was loaded by
    reranker_model_name: str | None = None
    cors_origins: tuple[str, ...] = ()  # empty: CORS off
    # Slow clients (see ``server/guard.py`` and ``server/http.py``): a connection must send a complete
    # request head within header_timeout_s of connecting (or of its first byte after keep-alive), and
    # the whole body within body_timeout_s of its head; otherwise it is closed (body: 408 first).
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    max_header_bytes: int = Field(16384, ge=1)  # request line + headers; beyond it -> 400 and close (h11's own limit)

    @model_validator(mode="after")
    def _consistent(self):
        if self.max_items > self.max_queue:
            raise ValueError(
                f"max_items ({self.max_items}) must not exceed max_queue ({self.max_queue}): "
                "a request of max_items inputs must fit in an empty queue"
            )
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be a non-empty string (or None for no auth)")
        if self.api_key is not None and api_key_problem(self.api_key):
            raise ValueError(f"api_key: {api_key_problem(self.api_key)}")
        return self


def api_key_problem(key: str) -> str | None:
    """Why ``key`` cannot work as a bearer token, or None. HTTP clients send header values as ASCII
    (httpx and the openai client refuse anything else; requests sends latin-1, curl the shell's
    bytes), so a key outside printable ASCII could never be sent and matched the same way by all."""
    for i, ch in enumerate(key):
        if not "\x21" <= ch <= "\x7e":
            shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
            return (f"the key holds {shown} at position {i}; an API key must be printable ASCII without spaces "
                    "(HTTP clients send header values as ASCII), e.g. from: "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return None
