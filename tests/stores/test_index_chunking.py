import pytest

from q3embed.stores.chunking import ChunkingConfig, chunk_text, window_spans


@pytest.mark.parametrize("n,size,overlap", [(1, 4, 0), (10, 4, 0), (10, 4, 1), (11, 4, 3), (100, 16, 8), (16, 16, 4)])
def test_windows_cover_every_token_with_the_requested_overlap(n, size, overlap):
    spans = window_spans(n, size, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(0 < b - a <= size for a, b in spans)
    for (a1, b1), (a2, b2) in zip(spans, spans[1:]):
        assert a2 == a1 + size - overlap  # fixed stride
        assert a2 <= b1  # no gap
    covered = set().union(*(range(a, b) for a, b in spans))
    assert covered == set(range(n))


def test_config_validation():
    with pytest.raises(ValueError, match="overlap"):
        ChunkingConfig(tokens=8, overlap=8)
    with pytest.raises(ValueError):
        ChunkingConfig(tokens=-1)
    assert not ChunkingConfig().enabled


def test_chunks_keep_character_offsets_with_the_qwen3_tokenizer(tiny_embedder):
    text = " ".join(f"word{i} is here." for i in range(80))
    chunks = chunk_text(text, tiny_embedder.tokenizer, ChunkingConfig(tokens=32, overlap=8))
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start:c.end] == c.text
        n = len(tiny_embedder.tokenizer(c.text, add_special_tokens=False)["input_ids"])
        assert n <= 33  # a window of 32 tokens re-tokenises to (about) 32
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # consecutive chunks overlap


def test_short_text_is_one_chunk(tiny_embedder):
    chunks = chunk_text("short text", tiny_embedder.tokenizer, ChunkingConfig(tokens=32, overlap=8))
    assert [(c.text, c.start, c.end) for c in chunks] == [("short text", 0, 10)]


def test_chunking_a_long_document_does_not_warn_about_length(minilm_embedder):
    """Cutting a long document into windows is not an over-long input: no transformers length warning."""
    from q3embed.stores.chunking import ChunkingConfig, chunk_text

    tok = minilm_embedder.tokenizer
    key = "sequence-length-is-longer-than-the-specified-maximum"
    tok.deprecation_warnings.pop(key, None)
    chunks = chunk_text("tides follow the moon " * 400, tok, ChunkingConfig(tokens=128, overlap=16))
    assert len(chunks) > 1
    assert not tok.deprecation_warnings.get(key), "transformers warned that a chunked document is too long"
