"""Endpoints through FastAPI's TestClient: results equal the library's, on the tiny Qwen3 models."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from q3embed.config import DEFAULT_RERANK_INSTRUCTION

TEXTS = ["What is the capital of China?", "Gravity makes apples fall.", "短い日本語の文", ""]


def vectors(response):
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return np.array([d["embedding"] for d in data], dtype=np.float32)


def test_embeddings_equal_encode(client, tiny_embedder):
    got = vectors(client.post("/v1/embeddings", json={"input": TEXTS, "model": tiny_embedder.name}))
    np.testing.assert_allclose(got, tiny_embedder.encode(TEXTS), atol=1e-6)


def test_single_string_dimensions_and_usage(client, tiny_embedder):
    r = client.post("/v1/embeddings", json={"input": TEXTS[0], "dimensions": 32})
    got = vectors(r)
    np.testing.assert_allclose(got, tiny_embedder.encode(TEXTS[:1], dim=32), atol=1e-6)
    n = len(tiny_embedder.tokenize(TEXTS[:1])[0])
    assert r.json()["usage"] == {"prompt_tokens": n, "total_tokens": n}
    assert r.json()["object"] == "list" and r.json()["model"] == tiny_embedder.name


def test_base64_is_little_endian_float32(client, tiny_embedder):
    r = client.post("/v1/embeddings", json={"input": TEXTS[:2], "encoding_format": "base64", "dimensions": 48})
    got = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in r.json()["data"]])
    np.testing.assert_allclose(got, tiny_embedder.encode(TEXTS[:2], dim=48), atol=1e-6)


def test_input_type_query_applies_the_query_instruction(client, tiny_embedder):
    got = vectors(client.post("/v1/embeddings", json={"input": TEXTS[:2], "input_type": "query"}))
    np.testing.assert_allclose(got, tiny_embedder.encode_queries(TEXTS[:2]), atol=1e-6)
    got = vectors(client.post("/v1/embeddings", json={"input": TEXTS[:2], "instruction": "Find code"}))
    np.testing.assert_allclose(got, tiny_embedder.encode(TEXTS[:2], instruction="Find code"), atol=1e-6)
    got = vectors(client.post("/v1/embeddings", json={"input": TEXTS[:2], "input_type": "document"}))
    np.testing.assert_allclose(got, tiny_embedder.encode_documents(TEXTS[:2]), atol=1e-6)


def test_token_ids_are_fed_as_is_with_one_eos(client, tiny_embedder):
    ids = tiny_embedder.tokenize(TEXTS[:2])  # already end in <|endoftext|>
    bare = [row[:-1] for row in ids]  # without it: the server adds it
    expected = tiny_embedder.encode(TEXTS[:2])

    def embed_ids(input_ids):
        return vectors(client.post("/v1/embeddings", json={"input": input_ids, "token_vocab": "model"}))

    np.testing.assert_allclose(embed_ids(ids), expected, atol=1e-6)
    np.testing.assert_allclose(embed_ids(bare), expected, atol=1e-6)
    doubled = [row + [row[-1]] for row in ids]  # two EOS collapse to one
    np.testing.assert_allclose(embed_ids(doubled), expected, atol=1e-6)
    one = embed_ids(bare[0])  # a flat list is one input
    np.testing.assert_allclose(one, expected[:1], atol=1e-6)


def test_token_ids_reject_instruction_and_out_of_vocab(client):
    r = client.post("/v1/embeddings", json={"input": [[1, 2]], "input_type": "query", "token_vocab": "model"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = client.post("/v1/embeddings", json={"input": [[1, 10**9]], "token_vocab": "model"})
    assert r.status_code == 400 and "10..151668" not in r.text and "0..151668" in r.json()["error"]["message"]


def test_overlong_input_truncates_by_default_and_400s_when_asked(tiny_embedder, tiny_reranker):
    from fastapi.testclient import TestClient

    from q3embed import Embedder
    from q3embed.server import ServerSettings, create_app

    long_text = "word " * 100
    for truncate_default in (True, False):
        app = create_app(tiny_embedder, tiny_reranker,
                         settings=ServerSettings(max_input_tokens=16, truncate=truncate_default))
        c = TestClient(app)
        r = c.post("/v1/embeddings", json={"input": [long_text, "short"]})
        if truncate_default:
            short = Embedder(tiny_embedder.model, tiny_embedder.tokenizer, tiny_embedder.layout, max_length=16)
            np.testing.assert_allclose(vectors(r), short.encode([long_text, "short"]), atol=1e-6)
            assert r.json()["usage"]["prompt_tokens"] == 16 + len(tiny_embedder.tokenize(["short"])[0])
            r = c.post("/v1/embeddings", json={"input": [long_text], "truncate": False})
        assert r.status_code == 400 and "16 tokens" in r.json()["error"]["message"]
        r = c.post("/v1/rerank", json={"query": "q", "documents": [long_text], "truncate": False})
        assert r.status_code == 400 and r.json()["error"]["param"] == "documents"
        app.state.q3.close()


def test_rerank_equals_score_and_orders_best_first(client, tiny_reranker):
    docs = ["Beijing is the capital of China.", "Gravity.", "Tokyo", "Paris is in France."]
    r = client.post("/v1/rerank", json={"query": "capital of China", "documents": docs, "top_n": 3})
    assert r.status_code == 200, r.text
    expected = tiny_reranker.score("capital of China", docs)
    results = r.json()["results"]
    assert len(results) == 3 and "document" not in results[0]
    assert [x["index"] for x in results] == list(np.argsort(-expected, kind="stable")[:3])
    np.testing.assert_allclose([x["relevance_score"] for x in results], np.sort(expected)[::-1][:3], atol=1e-6)


def test_rerank_documents_as_objects_and_instruction(client, tiny_reranker):
    docs = [{"text": "alpha", "id": "a1"}, {"text": "beta"}]
    r = client.post("/v1/rerank", json={"query": "q", "documents": docs, "return_documents": True,
                                        "instruction": "Judge poems"})
    assert r.status_code == 200, r.text
    expected = tiny_reranker.score("q", ["alpha", "beta"], instruction="Judge poems")
    by_index = {x["index"]: x for x in r.json()["results"]}
    assert by_index[0]["document"] == {"text": "alpha", "id": "a1"}
    np.testing.assert_allclose([by_index[i]["relevance_score"] for i in (0, 1)], expected, atol=1e-6)


def test_score_endpoint_vllm_shape(client, tiny_reranker):
    r = client.post("/v1/score", json={"text_1": "q", "text_2": ["a", "b", "c"]})
    assert r.status_code == 200, r.text
    got = [d["score"] for d in r.json()["data"]]
    np.testing.assert_allclose(got, tiny_reranker.score("q", ["a", "b", "c"]), atol=1e-6)
    r = client.post("/v1/score", json={"text_1": ["q1", "q2"], "text_2": ["a", "b"]})
    pairs = tiny_reranker.score_pairs([("q1", "a"), ("q2", "b")], instruction=DEFAULT_RERANK_INSTRUCTION)
    np.testing.assert_allclose([d["score"] for d in r.json()["data"]], pairs, atol=1e-6)
    r = client.post("/v1/score", json={"text_1": ["q1", "q2"], "text_2": ["a", "b", "c"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "text_2"


def test_models_health_and_metrics(client, tiny_embedder, tiny_reranker):
    client.post("/v1/embeddings", json={"input": ["metrics please"]})
    models = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["kind"]) for m in models] == [(tiny_embedder.name, "embedding"),
                                                       (tiny_reranker.name, "rerank")]
    assert client.get("/health").json()["status"] == "ok"
    text = client.get("/metrics").text
    for name in ("q3embed_requests_total{", "q3embed_input_tokens_total{", "q3embed_batch_rows_bucket{",
                 "q3embed_request_duration_seconds_bucket{", "q3embed_queue_rows{"):
        assert name in text, name
    assert 'q3embed_requests_total{code="200",endpoint="/v1/embeddings"}' in text


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/rerank", "/v1/score"])
def test_unknown_model_is_404(client, path):
    body = {"/v1/embeddings": {"input": "x"}, "/v1/rerank": {"query": "q", "documents": ["d"]},
            "/v1/score": {"text_1": "a", "text_2": "b"}}[path]
    r = client.post(path, json={**body, "model": "no-such-model"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert "no-such-model" in r.json()["error"]["message"]


def test_embedding_model_name_on_rerank_is_404(client, tiny_embedder):
    r = client.post("/v1/rerank", json={"query": "q", "documents": ["d"], "model": tiny_embedder.name})
    assert r.status_code == 404


def test_retrieve_without_index_is_503(client):
    r = client.post("/v1/retrieve", json={"query": "anything"})
    assert r.status_code == 503 and "no index loaded" in r.json()["error"]["message"]
