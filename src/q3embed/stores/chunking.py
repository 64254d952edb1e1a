"""Split long documents into overlapping windows of tokens, keeping each chunk's character offset.

A chunk is a window of the embedder's own tokens, so its length is what the model sees. The
character span comes from the fast tokenizer's offset mapping, which lets a hit point back into
the original document.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.tokenize import char_guard


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
    """Chunks of ``text`` under ``config``; the whole text as one chunk when chunking is off or it fits.

    The text is tokenized a piece of ``char_guard(config.tokens)`` characters at a time (131,072 for
    windows up to 8,192 tokens), so a huge document costs the memory of one piece, not of its
    whole offset mapping. A document shorter than a piece is tokenized whole, as it always was.
    """
    if not config.enabled:
        return [Chunk(text, 0, len(text))]
    piece = char_guard(config.tokens)
    chunks: list[Chunk] = []
    at = 0  # character where the next window starts
    while True:
        last = at + piece >= len(text)
        offsets = _offsets(tokenizer, text[at: at + piece], at)  # (n_tokens, 2) character spans in `text`
        if last and not chunks and len(offsets) <= config.tokens:
            return [Chunk(text, 0, len(text))]
        spans, resume = _piece_windows(offsets, config, last, at + piece)
        for a, b in spans:
            start, end = offsets[a][0], offsets[b - 1][1]
            chunks.append(Chunk(text[start:end], start, end))
        if resume is None:
            return chunks
        at = offsets[resume][0]


# A piece's last tokens may belong to a word the piece boundary cut; windows end this many characters
# before the boundary, and the next piece starts again at the next window's first token.
_PIECE_MARGIN = 1024


def _offsets(tokenizer, piece: str, at: int) -> list[tuple[int, int]]:
    # verbose=False: a piece is tokenized only to be cut into windows, so transformers' "sequence
    # length is longer than the specified maximum" warning would be untrue here
    enc = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [(at + a, at + b) for a, b in enc["offset_mapping"]]


def _piece_windows(offsets: list[tuple[int, int]], config: ChunkingConfig, last: bool,
                   piece_end: int) -> tuple[list[tuple[int, int]], int | None]:
    """Token windows of one piece, and the token the next piece starts at (None: the text is done)."""
    if last:
        return window_spans(len(offsets), config.tokens, config.overlap), None
    stable = sum(1 for _, b in offsets if b <= piece_end - _PIECE_MARGIN)
    stride = config.tokens - config.overlap
    spans, a = [], 0
    while a + config.tokens <= stable:
        spans.append((a, a + config.tokens))
        a += stride
    if not spans:  # text of more than 16 characters per token: a shorter window keeps the walk going
        b = max(stable, 1)
        return [(0, b)], min(b, len(offsets) - 1)
    return spans, a
