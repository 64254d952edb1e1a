"""What the API refuses instead of guessing: hostile numbers, duplicate keys, unknown fields, non-boolean
booleans; and HEAD answering like GET. Each refusal is one JSON error, and the connection stays usable."""

from __future__ import annotations

import httpx
import pytest

HUGE = "9" * 4301  # one digit past Python's int-string limit
GOOD = {"/v1/embeddings": '{"input": "a"}', "/v1/rerank": '{"query": "q", "documents": ["d"]}',
        "/v2/rerank": '{"query": "q", "documents": ["d"]}', "/v1/score": '{"text_1": "q", "text_2": "d"}',
        "/v1/retrieve": '{"query": "q"}'}
WITH_HUGE_INT = {"/v1/embeddings": '{"input": "a", "dimensions": %s}',
                 "/v1/rerank": '{"query": "q", "documents": ["d"], "top_n": %s}',
                 "/v2/rerank": '{"query": "q", "documents": ["d"], "top_n": %s}',
                 "/v1/score": '{"text_1": "q", "text_2": "d", "instruction": %s}',
                 "/v1/retrieve": '{"query": "q", "top_k": %s}'}


def _client_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


@pytest.mark.parametrize("path", sorted(WITH_HUGE_INT))
def test_a_huge_integer_is_400_and_the_connection_stays_usable(path, tiny_embedder, tiny_reranker, start_server,
                                                               retriever_for_strict_tests):
    from q3embed.server import create_app

    server = start_server(create_app(tiny_embedder, tiny_reranker, retriever_for_strict_tests))
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        first = client.post(path, content=GOOD[path])
        assert first.status_code == 200, first.text
        port = _client_port(first)
        error = _error(client.post(path, content=WITH_HUGE_INT[path] % HUGE), 400, "invalid_json")
        assert "4301-digit integer" in error["message"] and "at most 100 digits" in error["message"]
        for _ in range(10):
            r = client.post(path, content=GOOD[path])
            assert r.status_code == 200, r.text
            assert _client_port(r) == port  # the same keep-alive connection, not a new one


@pytest.fixture(scope="module")
def retriever_for_strict_tests(tmp_path_factory, tiny_embedder):
    from q3embed import Index, Retriever

    docs = [{"id": "d1", "text": "Beijing is the capital of China."}, {"id": "d2", "text": "Gravity."}]
    index = Index.build(tmp_path_factory.mktemp("strict_index") / "idx", docs, tiny_embedder)
    return Retriever(tiny_embedder, Index.open(index.root, tiny_embedder))


@pytest.mark.parametrize("body, says", [
    ('{"text_1": "q", "text_2": "d", "instruction": NaN}', "NaN"),
    ('{"text_1": "q", "text_2": "d", "instruction": Infinity}', "Infinity"),
    ('{"text_1": "q", "text_2": "d", "instruction": -Infinity}', "-Infinity"),
    ('{"text_1": "q", "text_2": "d", "instruction": 1e999}', "1e999"),
    ('{"text_1": "q", "text_2": "d", "text_2": "e"}', "'text_2' twice"),
    ('{"text_1": "q", "text_2": [{"x": 1, "x": 2}]}', "'x' twice"),
    ('{"text_1": "q", "text_2": "d", "model": -%s}' % HUGE, "4301-digit"),
], ids=["nan", "inf", "-inf", "1e999", "duplicate", "nested-duplicate", "huge-negative"])
def test_non_finite_numbers_and_duplicate_keys_are_refused_anywhere(client, body, says):
    r = client.post("/v1/score", content=body, headers={"Content-Type": "application/json"})
    assert says in _error(r, 400, "invalid_json")["message"]


@pytest.mark.parametrize("path, body, field", [
    ("/v1/embeddings", {"input": "a", "truncate": "yes"}, "truncate"),
    ("/v1/embeddings", {"input": "a", "truncate": 1}, "truncate"),
    ("/v1/rerank", {"query": "q", "documents": ["d"], "return_documents": "yes"}, "return_documents"),
    ("/v1/rerank", {"query": "q", "documents": ["d"], "return_documents": "false"}, "return_documents"),
    ("/v1/score", {"text_1": "q", "text_2": "d", "truncate": "true"}, "truncate"),
    ("/v1/retrieve", {"query": "q", "return_text": 0}, "return_text"),
    ("/v1/rerank", {"query": "q", "documents": ["d"], "rank_fields": ["title"]}, "rank_fields"),
])
def test_booleans_are_json_booleans_only(client, path, body, field):
    error = _error(client.post(path, json=body), 422, "validation_error")
    assert error["param"] == field and field in error["message"]


@pytest.mark.parametrize("path, body, field", [
    ("/v1/retrieve", {"query": "q", "where": {"lang": "en"}}, "where"),
    ("/v1/embeddings", {"input": "a", "dimension": 64}, "dimension"),
    ("/v1/rerank", {"query": "q", "documents": ["d"], "top_k": 1}, "top_k"),
    ("/v1/score", {"text_1": "q", "text_2": "d", "queries": ["x"]}, "queries"),
])
def test_unknown_fields_are_named_with_the_accepted_ones(client, path, body, field):
    error = _error(client.post(path, json=body), 400, "unknown_field")
    assert error["param"] == field and f"unknown field {field!r}" in error["message"]
    assert "accepted fields:" in error["message"] and "model" in error["message"]


def test_fields_official_clients_send_are_accepted(client):
    r = client.post("/v1/embeddings", json={"input": "a", "model": None, "user": "u-1", "encoding_format": "float"})
    assert r.status_code == 200, r.text
    r = client.post("/v1/rerank", json={"query": "q", "documents": ["d", "e"], "max_chunks_per_doc": 3,
                                        "max_tokens_per_doc": 512, "priority": 0, "rank_fields": ["text"]})
    assert r.status_code == 200, r.text
    r = client.post("/v1/rerank", json={"query": "q", "documents": [{"text": "d", "title": "t"}],
                                        "return_documents": True})  # a document's own fields stay free-form
    assert r.json()["results"][0]["document"] == {"text": "d", "title": "t"}


@pytest.mark.parametrize("path", ["/", "/health", "/v1/models", "/metrics"])
def test_head_answers_like_get_without_a_body(client, path):
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
