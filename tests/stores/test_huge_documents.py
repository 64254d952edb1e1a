"""A huge document costs what a normal one does: the tokenizer only ever sees a bounded piece of it.

Embedding tokenizes at most ``char_guard(max_length)`` characters of a text (truncation keeps no
more), and chunking walks a long document one piece of that size at a time. Both give the rows
and windows of the plain reference: tokenize everything, then cut.
"""

import random

import pytest

from q3embed.runtime.tokenize import char_guard
from q3embed.stores.chunking import ChunkingConfig, chunk_text, window_spans


def _text(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = "tides follow the moon while rivers carry salt, and 1,024 stones rest on Earth".split()
    out, size = [], 0
    while size < n_chars:
        out.append(rng.choice(words))
        size += len(out[-1]) + 1
    return " ".join(out)[:n_chars]


class CountingTokenizer:
    """The tokenizer, recording the length of every string it is given."""

    def __init__(self, tokenizer):
        self.tokenizer, self.seen = tokenizer, []

    def __call__(self, text, **kw):
        self.seen.append(len(text))
        return self.tokenizer(text, **kw)


def _reference_chunks(text, tokenizer, config):
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [(offsets[a][0], offsets[b - 1][1]) for a, b in window_spans(len(offsets), config.tokens, config.overlap)]


def test_chunking_tokenizes_a_piece_at_a_time_and_matches_whole_text_windows(tiny_embedder):
    text = _text(3 * char_guard(32) + 5000)  # four pieces
    config = ChunkingConfig(tokens=32, overlap=8)
    spy = CountingTokenizer(tiny_embedder.tokenizer)
    chunks = chunk_text(text, spy, config)
    assert max(spy.seen) <= char_guard(32) and len(spy.seen) >= 4
    assert [(c.start, c.end) for c in chunks] == _reference_chunks(text, tiny_embedder.tokenizer, config)
    assert all(text[c.start:c.end] == c.text for c in chunks)


@pytest.mark.parametrize("tokens, overlap", [(8, 0), (100, 99)])
def test_piece_boundaries_keep_the_stride(tiny_embedder, tokens, overlap):
    text = _text(char_guard(tokens) + 20_000, seed=1)
    config = ChunkingConfig(tokens=tokens, overlap=overlap)
    got = [(c.start, c.end) for c in chunk_text(text, tiny_embedder.tokenizer, config)]
    assert got == _reference_chunks(text, tiny_embedder.tokenizer, config)


def test_embedding_tokenizes_a_bounded_prefix_with_the_reference_rows(tiny_embedder, monkeypatch):
    text = _text(2 * char_guard(tiny_embedder.max_length) + 999)
    seen = []
    encode = tiny_embedder._tok.encode
    monkeypatch.setattr(tiny_embedder._tok, "encode",
                        lambda texts, **kw: seen.extend(map(len, texts)) or encode(texts, **kw))
    rows = tiny_embedder.prepare([text, "short"])
    assert max(seen) <= char_guard(tiny_embedder.max_length)
    full = tiny_embedder.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert rows[0] == full[: tiny_embedder.max_length - 1] + [tiny_embedder._tok.eos_id]


def test_reranking_tokenizes_a_bounded_document(tiny_reranker, monkeypatch):
    doc = _text(2 * char_guard(tiny_reranker.max_length) + 999)
    seen = []
    encode = tiny_reranker._tok.encode
    monkeypatch.setattr(tiny_reranker._tok, "encode",
                        lambda texts, **kw: seen.extend(map(len, texts)) or encode(texts, **kw))
    cut = tiny_reranker.prepare([("what pulls the tides?", doc)])
    assert max(seen) <= char_guard(tiny_reranker.max_length) + 200  # the document's bound, plus query and labels
    from q3embed.engine.reranker import DEFAULT_RERANK_INSTRUCTION
    from q3embed.runtime.tokenize import format_rerank_pair

    tok = tiny_reranker._tok
    full = encode([format_rerank_pair(DEFAULT_RERANK_INSTRUCTION, "what pulls the tides?", doc)])[0]
    assert cut == [tok.prefix_ids + full[: tok.budget] + tok.suffix_ids]
