"""The frameworks' own OpenAI-compatible embedding classes against a live server equal Embedder.encode.

LangChain's ``OpenAIEmbeddings`` by default sends tiktoken (cl100k) token ids instead of text.
A Qwen model would read them as other tokens, so the server refuses undeclared token ids with a
400 that names the setting to use (``check_embedding_ctx_length=False``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.embeddings.openai_like")

TEXTS = ["Beijing is the capital of China.", "Gravity pulls apples to the ground.", "Pandas eat bamboo."]


def test_langchain_openai_embeddings_with_text_equal_the_engine(live_server, api_key, tiny_embedder):
    from langchain_openai import OpenAIEmbeddings

    emb = OpenAIEmbeddings(model=tiny_embedder.name, base_url=live_server.url + "/v1", api_key=api_key,
                           check_embedding_ctx_length=False, max_retries=0)
    np.testing.assert_allclose(emb.embed_documents(TEXTS), tiny_embedder.encode_documents(TEXTS), atol=1e-6)
    # OpenAIEmbeddings has no notion of a query instruction: embed_query is a plain document embedding.
    np.testing.assert_allclose(emb.embed_query(TEXTS[0]), tiny_embedder.encode(TEXTS[0]), atol=1e-6)
    queries = OpenAIEmbeddings(model=tiny_embedder.name, base_url=live_server.url + "/v1", api_key=api_key,
                               check_embedding_ctx_length=False, max_retries=0,
                               model_kwargs={"extra_body": {"input_type": "query"}})
    np.testing.assert_allclose(queries.embed_query("capital of China"),
                               tiny_embedder.encode_queries("capital of China"), atol=1e-6)


def test_langchain_default_tiktoken_ids_are_refused_not_misread(live_server, api_key, tiny_embedder, monkeypatch):
    """The default path, with a local byte-level tiktoken encoding (cl100k needs a download)."""
    import openai
    import tiktoken
    from langchain_openai import OpenAIEmbeddings

    byte_level = tiktoken.Encoding("bytes", pat_str=r"\S+|\s+", mergeable_ranks={bytes([i]): i for i in range(256)},
                                   special_tokens={})
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda name: byte_level)
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: byte_level)
    emb = OpenAIEmbeddings(model=tiny_embedder.name, base_url=live_server.url + "/v1", api_key=api_key, max_retries=0)
    assert emb.check_embedding_ctx_length and emb.tiktoken_enabled  # LangChain's defaults
    with pytest.raises(openai.BadRequestError, match="check_embedding_ctx_length=False") as e:
        emb.embed_documents(TEXTS)
    assert "token_vocab" in str(e.value)


def test_llama_index_openai_like_embedding_equals_the_engine(live_server, api_key, tiny_embedder):
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    emb = OpenAILikeEmbedding(model_name=tiny_embedder.name, api_base=live_server.url + "/v1", api_key=api_key,
                              max_retries=0, embed_batch_size=2)
    np.testing.assert_allclose(emb.get_text_embedding_batch(TEXTS), tiny_embedder.encode_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(emb.get_query_embedding(TEXTS[0]), tiny_embedder.encode(TEXTS[0]), atol=1e-6)
    queries = OpenAILikeEmbedding(model_name=tiny_embedder.name, api_base=live_server.url + "/v1", api_key=api_key,
                                  max_retries=0, additional_kwargs={"extra_body": {"input_type": "query"}})
    np.testing.assert_allclose(queries.get_query_embedding("capital of China"),
                               tiny_embedder.encode_queries("capital of China"), atol=1e-6)


def test_undeclared_token_ids_are_refused_with_the_setting(client, tiny_embedder):
    ids = tiny_embedder.tokenize(TEXTS[:1])
    for body in ({"input": ids}, {"input": ids[0]}, {"input": ids, "token_vocab": None}):
        r = client.post("/v1/embeddings", json=body)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "token_ids_not_declared" and error["param"] == "input"
        assert "check_embedding_ctx_length=False" in error["message"] and '"token_vocab": "model"' in error["message"]
    r = client.post("/v1/embeddings", json={"input": ids, "token_vocab": "tiktoken"})
    assert r.status_code == 422 and "token_vocab" in r.text
    r = client.post("/v1/embeddings", json={"input": ids, "token_vocab": "model"})
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], tiny_embedder.encode(TEXTS[0]), atol=1e-6)
