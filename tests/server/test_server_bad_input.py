"""The bad-input battery: each case gets the right 4xx in JSON, and the server still answers /health."""

from __future__ import annotations

import json

import pytest

EMB = "/v1/embeddings"

CASES = [
    # (name, path, body bytes, expected status, field named in the error or None)
    ("invalid JSON", EMB, b'{"input": ["a", }', 400, None),
    ("not an object", EMB, b'["a", "b"]', 400, None),
    ("empty body", EMB, b"", 400, None),
    ("non-UTF-8 bytes", EMB, b'{"input": "caf\xe9"}', 400, None),
    ("wrong type: number", EMB, json.dumps({"input": 42}).encode(), 422, "input"),
    ("wrong type: mixed list", EMB, json.dumps({"input": ["a", 3]}).encode(), 422, "input"),
    ("wrong type: bool ids", EMB, json.dumps({"input": [True, False]}).encode(), 422, "input"),
    ("missing input", EMB, json.dumps({"model": "m"}).encode(), 422, "input"),
    ("bad encoding_format", EMB, json.dumps({"input": "a", "encoding_format": "int8"}).encode(), 422,
     "encoding_format"),
    ("empty list", EMB, json.dumps({"input": []}).encode(), 400, "input"),
    ("1M-character string", EMB, json.dumps({"input": "x" * 1_000_000}).encode(), 413, "input"),
    ("10,000 inputs", EMB, json.dumps({"input": ["a"] * 10_000}).encode(), 413, "input"),
    ("dimensions too small", EMB, json.dumps({"input": "a", "dimensions": 8}).encode(), 400, "dimensions"),
    ("dimensions too large", EMB, json.dumps({"input": "a", "dimensions": 100_000}).encode(), 400, "dimensions"),
    ("dimensions not int", EMB, json.dumps({"input": "a", "dimensions": "64"}).encode(), 422, "dimensions"),
    ("lone surrogate", EMB, b'{"input": "bad \\ud800 text"}', 400, "input"),
    ("document with instruction", EMB, json.dumps({"input": "a", "input_type": "document",
                                                   "instruction": "x"}).encode(), 400, "instruction"),
    ("rerank: documents missing", "/v1/rerank", json.dumps({"query": "q"}).encode(), 422, "documents"),
    ("rerank: empty documents", "/v1/rerank", json.dumps({"query": "q", "documents": []}).encode(), 400,
     "documents"),
    ("rerank: document without text", "/v1/rerank", json.dumps({"query": "q", "documents": [{"t": 1}]}).encode(),
     422, "documents"),
    ("rerank: top_n zero", "/v1/rerank", json.dumps({"query": "q", "documents": ["d"], "top_n": 0}).encode(), 422,
     "top_n"),
    ("rerank: too many documents", "/v1/rerank", json.dumps({"query": "q", "documents": ["d"] * 65}).encode(), 413,
     "documents"),
    ("score: wrong type", "/v1/score", json.dumps({"text_1": 1, "text_2": "b"}).encode(), 422, "text_1"),
    ("retrieve: no query", "/v1/retrieve", json.dumps({"top_k": 3}).encode(), 422, "query"),
]


@pytest.mark.parametrize("name,path,body,status,field", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_the_right_4xx(client, name, path, body, status, field):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, (name, r.text[:300])
    error = r.json()["error"]
    assert error["message"] and error["type"]
    if field is not None:
        assert error["param"] == field and field in error["message"], error
    assert client.get("/health").status_code == 200


def test_validation_error_says_what_is_accepted(client):
    r = client.post(EMB, json={"input": {"text": "a"}})
    message = r.json()["error"]["message"]
    assert "input" in message and "list of strings" in message and "token ids" in message


def test_body_over_the_byte_limit_is_413(client):
    body = json.dumps({"input": ["y" * 1000] * 3000}).encode()  # ~3 MB > the fixture's 2 MiB limit
    r = client.post(EMB, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(3):
            yield b" " * (1024 * 1024)

    r = client.post(EMB, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_and_method_are_json(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and "/v1/embeddings" in r.json()["error"]["message"]
    r = client.get(EMB)
    assert r.status_code == 405 and "error" in r.json()


def test_api_key_is_required_when_set(tiny_embedder, api_key):
    from fastapi.testclient import TestClient

    from q3embed.server import ServerSettings, create_app

    app = create_app(tiny_embedder, settings=ServerSettings(api_key=api_key))
    c = TestClient(app)
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": api_key},
                        {"Authorization": "Basic " + api_key}):
            for path in (EMB, "/v1/rerank", "/v1/retrieve"):
                r = c.post(path, json={"input": "a"}, headers=headers)
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (headers, path)
            assert c.get("/v1/models", headers=headers).status_code == 401
            assert c.get("/metrics", headers=headers).status_code == 401
        assert c.get("/health").status_code == 200  # open for load balancers
        good = {"Authorization": f"Bearer {api_key}"}
        assert c.post(EMB, json={"input": "a"}, headers=good).status_code == 200
        assert 'code="401"' in c.get("/metrics", headers=good).text
    finally:
        app.state.q3.close()


def test_cors_is_off_unless_asked(client, tiny_embedder, api_key):
    from fastapi.testclient import TestClient

    from q3embed.server import ServerSettings, create_app

    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = client.post(EMB, json={"input": "a"}, headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers
    app = create_app(tiny_embedder, settings=ServerSettings(api_key=api_key, cors_origins=("https://app.example",)))
    c = TestClient(app)
    try:
        r = c.options(EMB, headers=preflight)  # preflight carries no key and must not need one
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        r = c.options(EMB, headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    finally:
        app.state.q3.close()


def test_auth_compares_in_constant_time(monkeypatch):
    import hmac

    from q3embed.server import auth

    seen = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    assert auth.is_authorized("Bearer k1", "k1") and not auth.is_authorized("Bearer k2", "k1")
    assert seen == [(b"k1", b"k1"), (b"k2", b"k1")]
    assert auth.is_authorized(None, None) and not auth.is_authorized(None, "k1")
