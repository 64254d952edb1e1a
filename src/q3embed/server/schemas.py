"""Request bodies of the HTTP API (pydantic). Responses are built as plain dicts in ``routes``.

Unknown fields are refused (400 ``unknown_field``, naming the accepted ones), as OpenAI does: a
typo such as ``top-k`` must not pass in silence. The fields the official clients send that have
no meaning here are declared and ignored (``user``; Cohere's ``max_chunks_per_doc``,
``max_tokens_per_doc``, ``priority``). Booleans are JSON ``true``/``false`` only: ``"yes"``, ``1``
or ``"false"`` are refused (422), not guessed at.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # body.py names an unknown field first, with the accepted ones
    ACCEPTED: ClassVar[dict[str, str]] = {}  # field -> what it accepts, in JSON terms (for 422 messages)


class MediaItem(_Request):
    """A multimodal input (Qwen3-VL): text, image(s) as data: URLs, or both (server/media.py)."""

    text: StrictStr | None = None
    image: StrictStr | None = None
    images: list[StrictStr] | None = None


class ImageURL(_Request):
    url: StrictStr
    detail: StrictStr | None = None  # sent by OpenAI-style clients; ignored


class ContentPart(_Request):
    type: Literal["text", "image_url"]
    text: StrictStr | None = None
    image_url: ImageURL | None = None


class ChatMessage(_Request):
    role: Literal["system", "user"]
    content: StrictStr | list[ContentPart]


class EmbeddingRequest(_Request):
    """OpenAI ``POST /v1/embeddings``, plus ``instruction``, ``input_type`` and ``truncate``.

    ``input``: a string, a list of strings, a list of token ids, or a list of token-id lists.
    Token ids are fed as they are (no instruction is added); a Qwen3 model gets exactly one
    ``<|endoftext|>`` at the end, as for text. They are refused unless ``token_vocab`` is
    ``"model"``: clients such as LangChain's ``OpenAIEmbeddings`` send tiktoken ids by default,
    which this model would read as other tokens (silently wrong vectors).
    """

    messages: list[ChatMessage] | None = None  # vLLM's chat form for multimodal pooling (server/media.py)
    # required unless messages are sent (checked below, so the error names 'input')
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]] | list[StrictStr | MediaItem] | None = \
        Field(None, validate_default=True)
    model: StrictStr | None = None
    dimensions: StrictInt | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: StrictStr | None = None
    instruction: StrictStr | None = None
    input_type: Literal["query", "document"] | None = None
    truncate: StrictBool | None = None  # None: the server's default
    token_vocab: Literal["model"] | None = None  # "model": token-id input is in the served model's own vocabulary

    @field_validator("input")
    @classmethod
    def _input_or_messages(cls, value, info):
        messages = info.data.get("messages")
        if value is None and messages is None:
            raise ValueError("field required: send 'input' (texts, or {\"text\", \"image\"} objects) or 'messages'")
        if value is not None and messages is not None:
            raise ValueError("send either 'input' or 'messages', not both")
        return value

    ACCEPTED: ClassVar[dict[str, str]] = {
        "token_vocab": '"model" (token ids in the served model\'s own vocabulary)',
        "input": "a string, a list of strings, a list of token ids (integers), or a list of token-id lists; "
                 'with a Qwen3-VL model also {"text": ..., "image": "data:image/...;base64,..."} objects',
        "messages": 'chat messages: [{"role": "user", "content": [{"type": "image_url", "image_url": '
                    '{"url": "data:..."}}, {"type": "text", "text": "..."}]}]',
        "dimensions": "an integer (32..model width)",
        "encoding_format": '"float" or "base64"',
        "input_type": '"query" or "document"',
    }


class RerankDocument(_Request):
    model_config = ConfigDict(extra="allow")  # other fields come back untouched with return_documents
    text: StrictStr | None = None
    image: StrictStr | None = None  # Qwen3-VL: a data: URL (server/media.py)
    images: list[StrictStr] | None = None


class RerankRequest(_Request):
    """Cohere / Jina ``POST /v1/rerank`` (and Cohere v2 ``/v2/rerank``), plus ``instruction``."""

    query: StrictStr | MediaItem
    documents: list[StrictStr | RerankDocument]
    model: StrictStr | None = None
    top_n: StrictInt | None = Field(default=None, ge=1)
    return_documents: StrictBool = False
    instruction: StrictStr | None = None
    truncate: StrictBool | None = None
    # Sent by Cohere's clients when a caller sets them; accepted and ignored: one model call per
    # document, truncated to the model's limit (or refused with truncate: false).
    max_chunks_per_doc: StrictInt | None = None
    max_tokens_per_doc: StrictInt | None = None
    priority: StrictInt | None = None
    rank_fields: list[Literal["text"]] | None = None  # documents are ranked by their "text" only

    ACCEPTED: ClassVar[dict[str, str]] = {
        "query": "a string",
        "documents": 'a list of strings or of {"text": string} objects',
        "top_n": "a positive integer",
        "rank_fields": '["text"] (documents are ranked by their text)',
    }


class ScoreRequest(_Request):
    """vLLM ``POST /v1/score``: ``text_1`` against each ``text_2`` (or pairwise when both are lists)."""

    text_1: StrictStr | list[StrictStr]
    text_2: StrictStr | list[StrictStr]

    ACCEPTED: ClassVar[dict[str, str]] = {"text_1": "a string or a list of strings",
                                         "text_2": "a string or a list of strings"}
    model: StrictStr | None = None
    instruction: StrictStr | None = None
    truncate: StrictBool | None = None


class RetrieveRequest(_Request):
    """``POST /v1/retrieve``: query -> top-k from the loaded index -> rerank (if a reranker is loaded).

    ``mode``: the first stage(s): ``dense`` vectors, ``lexical`` BM25, or ``hybrid`` (both, fused with
    RRF k=60); each result lists the ``stages`` that found it. ``method``: how the dense stage
    searches (e.g. ``exact``, ``hnsw``); None: exact."""

    query: StrictStr | MediaItem  # Qwen3-VL: {"image": "data:..."} searches by image (dense mode)
    top_k: StrictInt = Field(default=10, ge=1, le=1000)
    rerank_top: StrictInt = Field(default=100, ge=1, le=1000)
    mode: Literal["dense", "lexical", "hybrid"] = "dense"
    method: StrictStr | None = None
    return_text: StrictBool = True
    model: StrictStr | None = None

    ACCEPTED: ClassVar[dict[str, str]] = {"query": 'a string (Qwen3-VL: or {"text": ..., "image": "data:..."})',
                                         "top_k": "an integer in 1..1000",
                                         "rerank_top": "an integer in 1..1000",
                                         "mode": '"dense", "lexical" or "hybrid"'}
