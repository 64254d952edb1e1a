"""Hostile client input (deep JSON, lone surrogates, over-long instructions) and client behaviour (hanging up,
half-sent requests, abandoned requests) end in a clear 4xx, a timeout or a dropped job: never a 500, a
traceback or a held connection."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import socket
import time

import httpx
import numpy as np
import pytest

ENDPOINTS = ("/v1/embeddings", "/v1/rerank", "/v1/score", "/v1/retrieve")


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_clean_4xx(r, status: int, param: str | None = None) -> dict:
    """``status``, valid UTF-8 JSON in OpenAI's error shape, naming ``param`` when given."""
    assert r.status_code == status, r.text[:300]
    error = json.loads(r.content.decode("utf-8"))["error"]  # strict UTF-8: the message stayed encodable
    if param is not None:
        assert error["param"] == param and param in error["message"], error
    return error


# -- nested JSON ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_400_on_every_endpoint(client, path, depth):
    for inner in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        body = ('{"input": %s, "query": %s, "text_1": %s}' % (inner, inner, inner)).encode()
        error = assert_clean_4xx(client.post(path, content=body, headers={"content-type": "application/json"}), 400)
        assert "nests" in error["message"] and "limit is 64" in error["message"]
    assert client.get("/health").status_code == 200


def test_brackets_inside_strings_do_not_count_as_nesting(client, tiny_reranker):
    doc = {"text": "[[[[{{{{" * 50 + '\\"]' * 10, "meta": {"a": {"b": [[["ok"]]]}}}  # real nesting: 6 levels
    r = client.post("/v1/rerank", json={"query": "q", "documents": [doc], "return_documents": True})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["results"][0]["document"]["meta"] == doc["meta"]
    np.testing.assert_allclose(r.json()["results"][0]["relevance_score"], tiny_reranker.score("q", [doc["text"]]),
                               atol=1e-6)


def test_json_depth_counts_only_structure():
    from q3embed.server.body import json_depth

    assert json_depth(b'{"a": [1, {"b": "]]]"}]}') == 3
    assert json_depth(b'"[[["') == 0 and json_depth(b'{"a": "\\"[["}') == 1
    assert json_depth(b"[" * 5000 + b"]" * 5000) == 5000


# -- lone surrogates and the field they are in ----------------------------------------------------

SURROGATE_CASES = [
    # (path, raw JSON body, the field the error must name)
    ("/v1/embeddings", '{"input": "fine", "instruction": "bad \\ud800 task"}', "instruction"),
    ("/v1/embeddings", '{"input": ["ok", "bad \\udfff"]}', "input"),
    ("/v1/embeddings", '{"input": "a", "dimensions": "\\ud800"}', "dimensions"),  # wrong type and a surrogate
    ("/v1/embeddings", '{"input": "a", "model": "\\udc80"}', "model"),
    ("/v1/rerank", '{"query": "bad \\ud800", "documents": ["fine"]}', "query"),  # not "documents"
    ("/v1/rerank", '{"query": "q", "documents": [{"text": "ok", "\\ud800": 1}]}', "documents"),
    ("/v1/rerank", '{"query": "q", "documents": ["d"], "top_n": "\\ud800"}', "top_n"),
    ("/v1/score", '{"text_1": "\\ud800", "text_2": "b"}', "text_1"),
    ("/v1/retrieve", '{"query": "bad \\ud800 query"}', "query"),
    ("/v1/retrieve", '{"query": "q", "top_k": "\\ud800"}', "top_k"),
]


@pytest.mark.parametrize("path,body,field", SURROGATE_CASES, ids=[c[2] + ":" + c[0] for c in SURROGATE_CASES])
def test_lone_surrogates_are_400_naming_the_field(client, path, body, field):
    r = client.post(path, content=body.encode(), headers={"content-type": "application/json"})
    error = assert_clean_4xx(r, 400, field)
    assert error["code"] == "invalid_text" and "surrogate" in error["message"]


@pytest.mark.parametrize("path,body,field", [
    ("/v1/embeddings", {"input": "short", "instruction": "x" * 200_000}, "instruction"),
    ("/v1/rerank", {"query": "x" * 200_000, "documents": ["short"]}, "query"),
    ("/v1/rerank", {"query": "q", "documents": ["short"], "instruction": "x" * 200_000}, "instruction"),
    ("/v1/score", {"text_1": "x" * 200_000, "text_2": ["short"]}, "text_1"),
])
def test_an_over_long_instruction_or_query_is_named_not_the_inputs(client, path, body, field):
    error = assert_clean_4xx(client.post(path, json=body), 413, field)
    assert error["code"] == "input_too_large"


def test_valid_surrogate_pairs_are_text(client, tiny_embedder):
    r = client.post("/v1/embeddings", content=b'{"input": "smile \\ud83d\\ude00"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 200
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], tiny_embedder.encode("smile \U0001F600"), atol=1e-6)


def test_validation_messages_escape_what_they_echo():
    from pydantic import ValidationError

    from q3embed.server.errors import error_response, validation_error
    from q3embed.server.schemas import EmbeddingRequest

    with pytest.raises(ValidationError) as e:
        EmbeddingRequest.model_validate({"input": {"x": "\ud800"}})  # past the body checks: a direct call
    err = validation_error(e.value, EmbeddingRequest.ACCEPTED)
    assert err.param == "input"
    body = json.loads(error_response(err.status, err.message, err.param).body.decode("utf-8"))
    assert "\\ud800" in body["error"]["message"] and "got object" in body["error"]["message"]
    body = json.loads(error_response(500, "raw \udcff value").body.decode("utf-8"))
    assert body["error"]["message"] == "raw \\udcff value"


# -- HEAD /health ---------------------------------------------------------------------------------

def test_head_health(client, live_server):
    r = client.head("/health")
    assert r.status_code == 200 and r.content == b""
    r = httpx.head(live_server.url + "/health")
    assert r.status_code == 200 and r.content == b""


# -- live connections: hang-ups, deadlines, shutdown ------------------------------------------------

def _raw_request(path: str, body: bytes, content_length: int | None = None, extra: str = "") -> bytes:
    length = len(body) if content_length is None else content_length
    head = (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n")
    return head.encode() + body


def _connect(server, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _metrics_count(server, code: int) -> float:
    text = httpx.get(server.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("q3embed_requests_total") and f'code="{code}"' in line)


def test_client_hanging_up_mid_body_is_no_500_and_no_traceback(tiny_embedder, start_server, caplog):
    from q3embed.server import create_app

    server = start_server(create_app(tiny_embedder))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            sock = _connect(server)
            sock.sendall(_raw_request("/v1/embeddings", b'{"input": ["half', content_length=1000))
            time.sleep(0.05)
            sock.close()
        wait_for(lambda: _metrics_count(server, 499) == 3, "three 499s in the metrics")
    assert _metrics_count(server, 500) == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert httpx.post(server.url + "/v1/embeddings", json={"input": "still fine"}).status_code == 200


def test_abandoned_rerank_requests_are_dropped_from_the_queue(tiny_reranker, start_server, gate_factory):
    from q3embed.server import create_app

    app = create_app(reranker=tiny_reranker)
    server = start_server(app)
    batcher = app.state.q3.rerank.batcher
    gate = gate_factory(batcher)  # holds the first request's forward; the other 19 queue behind it
    docs = [f"document number {i} about topic {i % 7}" for i in range(200)]
    body = json.dumps({"query": "topic 3", "documents": docs}).encode()
    socks = []
    try:
        for _ in range(20):
            socks.append(_connect(server))
            socks[-1].sendall(_raw_request("/v1/rerank", body))
        assert gate.entered.wait(30)
        wait_for(lambda: batcher.queued_rows + batcher.running_rows == 20 * 200, "20 requests of 200 rows to queue")
        running = batcher.running_rows  # the rows in the held forward pass: these alone may still be scored
        for s in socks:
            s.close()  # every client gives up
        wait_for(lambda: batcher.queued_rows == 0, "the abandoned rows to leave the queue")
    finally:
        gate.open()
    probe = httpx.post(server.url + "/v1/rerank", json={"query": "topic 3", "documents": docs[:2]}, timeout=60)
    assert probe.status_code == 200
    np.testing.assert_allclose(sorted(r["relevance_score"] for r in probe.json()["results"]),
                               sorted(tiny_reranker.score("topic 3", docs[:2])), atol=1e-6)
    wait_for(lambda: batcher.running_rows == 0, "the worker to go idle")
    # Only the rows already in the forward pass were scored (plus the probe's), not 20 x 200 rows.
    assert running <= 200 and sum(gate.batch_sizes) == running + 2, (running, gate.batch_sizes)
    wait_for(lambda: _metrics_count(server, 499) == 20, "twenty 499s")
    assert _metrics_count(server, 500) == 0


def test_half_sent_request_head_is_closed_after_the_header_timeout(tiny_embedder, start_server):
    from q3embed.server import ServerSettings, create_app
    from q3embed.server.http import uvicorn_config

    app = create_app(tiny_embedder, settings=ServerSettings(header_timeout_s=0.5))
    server = start_server(app, uvicorn_config(app, log_level="warning"))
    silent, partial = _connect(server), _connect(server)
    partial.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: test\r\nContent-")  # and then nothing
    start = time.monotonic()
    assert _read_until_closed(partial) == b"" and _read_until_closed(silent) == b""
    assert time.monotonic() - start < 5  # closed by the 0.5 s deadline, not by the 10 s socket timeout
    # A whole request on a kept-alive connection is untouched by the deadline.
    with httpx.Client(base_url=server.url) as c:
        for _ in range(2):
            assert c.post("/v1/embeddings", json={"input": "a"}).status_code == 200
            time.sleep(0.6)
    # A request head larger than max_header_bytes is refused, whether it arrives whole or in pieces.
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    assert _read_until_closed(sock).startswith(b"HTTP/1.1 431")
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)  # no end of head yet
    assert _read_until_closed(sock).startswith(b"HTTP/1.1 400")


def test_half_sent_body_gets_408_and_is_closed_after_the_body_timeout(tiny_embedder, start_server):
    from q3embed.server import ServerSettings, create_app

    app = create_app(tiny_embedder, settings=ServerSettings(body_timeout_s=0.5))
    server = start_server(app)
    sock = _connect(server)
    sock.sendall(_raw_request("/v1/embeddings", b'{"input": "only half of', content_length=400))
    start = time.monotonic()
    answer = _read_until_closed(sock)
    assert time.monotonic() - start < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "body_timeout"
    assert _metrics_count(server, 408) == 1 and _metrics_count(server, 500) == 0


def test_request_running_past_the_grace_period_gets_503(tiny_embedder, start_server, gate_factory, caplog):
    from q3embed.server import create_app
    from q3embed.server.http import uvicorn_config

    app = create_app(tiny_embedder)
    server = start_server(app, uvicorn_config(app, log_level="warning", graceful_shutdown_s=0.3))
    gate = gate_factory(app.state.q3.embedding.batcher)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stuck = pool.submit(httpx.post, server.url + "/v1/embeddings", json={"input": "slow"}, timeout=60)
        assert gate.entered.wait(30)
        stopping = pool.submit(server.stop)  # the flag uvicorn's SIGTERM handler sets
        r = stuck.result(30)  # answered while the worker is still held: the grace period ran out
        gate.open()
        stopping.result(60)
    error = assert_clean_4xx(r, 503)
    assert error["code"] == "shutting_down" and r.headers["retry-after"] == "1"
    assert not any("Exception in ASGI application" in rec.getMessage() for rec in caplog.records)
