"""Split long documents into overlapping windows of tokens, keeping each chunk's character offset.

A chunk is a window of the embedder's own tokens, so its length is what the model sees. The
character span comes from the fast tokenizer's offset mapping, which lets a hit point back into
the original document.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkingConfig:
    """``tokens`` per chunk (0 = no chunking: the embedder truncates at its max_length) and ``overlap``."""

    tokens: int = 0
    overlap: int = 0

    def __post_init__(self) -> None:
        if self.tokens < 0 or self.overlap < 0:
            raise ValueError(f"chunk tokens and overlap must be >= 0, got {self.tokens} and {self.overlap}")
        if self.tokens and self.overlap >= self.tokens:
            raise ValueError(f"chunk overlap ({self.overlap}) must be smaller than chunk size ({self.tokens} tokens)")

    @property
    def enabled(self) -> bool:
        return self.tokens > 0


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offset of the chunk in its document
    end: int


def window_spans(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Token windows [start, end) of ``size`` covering ``n_tokens`` with ``overlap`` shared tokens.

    The last window ends at ``n_tokens``; a document that fits in one window gives one span.
    """
    if n_tokens <= size:
        return [(0, n_tokens)]
    stride = size - overlap
    spans = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        spans.append((start, end))
        if end == n_tokens:
            return spans
        start += stride


def chunk_text(text: str, tokenizer, config: ChunkingConfig) -> list[Chunk]:
    """Chunks of ``text`` under ``config``; the whole text as one chunk when chunking is off or it fits."""
    if not config.enabled:
        return [Chunk(text, 0, len(text))]
    # verbose=False: the whole document is tokenized only to be cut into windows, so transformers'
    # "sequence length is longer than the specified maximum" warning would be untrue here
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = enc["offset_mapping"]  # (n_tokens, 2) character spans
    if len(offsets) <= config.tokens:
        return [Chunk(text, 0, len(text))]
    chunks = []
    for a, b in window_spans(len(offsets), config.tokens, config.overlap):
        start, end = offsets[a][0], offsets[b - 1][1]
        chunks.append(Chunk(text[start:end], start, end))
    return chunks
