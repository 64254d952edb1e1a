"""The HTTP API fuzzed from its own OpenAPI schema, against a live uvicorn server and one keep-alive client.

For every operation the server publishes, requests come from three generators:
- ``positive``: bodies that match the schema (schemathesis);
- ``negative``: bodies that break it (schemathesis);
- ``hostile``: a schema-valid body with one value swapped for raw JSON that parsers trip on
  (a 5,000-digit integer, NaN, 1e999, a lone surrogate, deep nesting, a duplicate key, an unknown field).

Invariants, whatever was sent: no 5xx; every error is JSON in the documented shape
``{"error": {"message", "type", "param", "code"}}``; and the keep-alive connection is the same
one afterwards (the next request goes out from the same client port) and still answers.

The default run is bounded (about a minute on 2 cores); ``pytest -m fuzz`` runs many more cases.
"""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DEFAULT_EXAMPLES = 25  # per POST operation and generator: 378 cases, about a minute on 2 cores
FUZZ_EXAMPLES = 400
HOSTILE = [
    "9" * 5000,  # past Python's 4,300-digit int limit
    "-" + "1" * 4301,
    "NaN", "Infinity", "-Infinity", "1e999",
    '"\\ud800"',  # a lone surrogate
    "[" * 100 + "]" * 100,  # deeper than the body's nesting limit
    '"yes"', "1", "0", "null", '{"a": 1, "a": 2}',
    '"' + "x" * 300 + '"',
]
DOCS = [{"id": f"d{i}", "text": t} for i, t in enumerate(
    ["Beijing is the capital of China.", "Gravity pulls apples down.", "Pandas live in Sichuan."])]
CASES: Counter = Counter()


@pytest.fixture(scope="module")
def fuzz_index(tmp_path_factory, tiny_embedder):
    from q3embed import Index

    return Index.build(tmp_path_factory.mktemp("fuzz_index") / "idx", DOCS, tiny_embedder).root


@pytest.fixture
def fuzz_app(fuzz_index, tiny_embedder, tiny_reranker, api_key):
    """A fresh app per server: stopping a server shuts its app's batchers down."""
    from q3embed import Index, Retriever
    from q3embed.server import ServerSettings, create_app

    retriever = Retriever(tiny_embedder, Index.open(fuzz_index, tiny_embedder), reranker=tiny_reranker)
    # Small limits keep each generated request cheap on the tiny models.
    app = create_app(tiny_embedder, tiny_reranker, retriever, settings=ServerSettings(
        api_key=api_key, max_items=16, max_queue=64, max_body_bytes=256 * 1024, max_request_chars=20_000))
    yield app
    app.state.q3.close()


@pytest.fixture
def fuzz_server(fuzz_app, start_server, api_key):
    """(a live server, its published schema, the key)."""
    return start_server(fuzz_app), fuzz_app.openapi(), api_key


def _operations(spec: dict) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def _schema(spec: dict):
    import schemathesis

    return schemathesis.openapi.from_dict(spec)


def _client_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def exchange(client: httpx.Client, method: str, path: str, body: bytes | None, query=None) -> None:
    """Send one request on ``client``'s connection and check the invariants."""
    sent = _describe(method, path, body)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        response = client.request(method, path, content=body, params=query, headers=headers)
    except httpx.TransportError as e:
        raise AssertionError(f"the connection failed ({type(e).__name__}: {e}) for {sent}") from None
    check_invariants(client, response, sent)


def check_invariants(client: httpx.Client, response: httpx.Response, sent: str) -> None:
    assert response.status_code < 500, f"{response.status_code} for {sent}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), sent
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, (sent, error)
        assert isinstance(error["message"], str) and error["message"], (sent, error)
        assert error["param"] is None or isinstance(error["param"], str), (sent, error)
        assert error["code"] is None or isinstance(error["code"], str), (sent, error)
    port = _client_port(response)
    try:
        probe = client.get("/health")
    except httpx.TransportError as e:
        raise AssertionError(f"the connection failed after {response.status_code} for {sent}: {e}") from None
    assert probe.status_code == 200, sent
    assert _client_port(probe) == port, f"the connection was dropped after {response.status_code} for {sent}"


def _describe(method: str, path: str, body) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return f"{method} {path} {text[:200]}"


def _body_bytes(case) -> bytes | None:
    from schemathesis.core import NotSet

    if isinstance(case.body, NotSet):
        return None
    if isinstance(case.body, bytes):  # the negative generator may send a body that is not JSON at all
        return case.body
    return json.dumps(case.body).encode("utf-8")


def _hostile_body(body, where: int, token: str) -> bytes:
    """``body`` as JSON with the value of its ``where``-th key (or a new key) replaced by the raw ``token``."""
    body = dict(body) if isinstance(body, dict) else {}
    keys = list(body) + ["unknown_field"]
    key = keys[where % len(keys)]
    body[key] = "\x00HOSTILE\x00"
    return json.dumps(body).replace(json.dumps("\x00HOSTILE\x00"), token).encode("utf-8")


def run_fuzz(fuzz_server, generator: str, examples: int, derandomize: bool) -> None:
    server, spec, api_key = fuzz_server
    schema = _schema(spec)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as client:
        for method, path in _operations(spec):
            if generator != "positive" and method != "POST":
                continue  # a GET takes no body or query: there is nothing to break
            operation = schema[path][method].ok() if hasattr(schema[path][method], "ok") else schema[path][method]
            fuzz_operation(client, operation, method, path, generator, examples, derandomize)


def fuzz_operation(client: httpx.Client, operation, method: str, path: str, generator: str, examples: int,
                   derandomize: bool) -> None:
    from schemathesis import GenerationMode

    mode = GenerationMode.NEGATIVE if generator == "negative" else GenerationMode.POSITIVE
    strategy = operation.as_strategy(generation_mode=mode)
    if generator == "hostile":
        strategy = st.tuples(strategy, st.integers(0, 20), st.sampled_from(HOSTILE))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(drawn):
        if generator == "hostile":
            case, where, token = drawn
            body = _hostile_body(case.body, where, token)
        else:
            case = drawn
            body = _body_bytes(case)
        CASES[(generator, f"{method} {path}")] += 1
        exchange(client, method, path, body, query=case.query or None)

    one()


def test_published_schema_reaches_every_endpoint_and_field(fuzz_server):
    from q3embed.server.app import KNOWN_PATHS
    from q3embed.server.schemas import (
        EmbeddingRequest,
        RerankRequest,
        RetrieveRequest,
        ScoreRequest,
    )

    _, spec, _ = fuzz_server
    published = set(spec["paths"])
    assert set(KNOWN_PATHS) - {"/"} <= published, set(KNOWN_PATHS) - published
    models = {"/v1/embeddings": EmbeddingRequest, "/v1/rerank": RerankRequest, "/v2/rerank": RerankRequest,
              "/v1/score": ScoreRequest, "/v1/retrieve": RetrieveRequest}
    for path, model in models.items():
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert set(body["properties"]) == set(model.model_fields), path
        assert set(body.get("required", [])) == {n for n, f in model.model_fields.items() if f.is_required()}, path
        assert "422" in spec["paths"][path]["post"]["responses"], path


@pytest.mark.parametrize("generator", ["positive", "negative", "hostile"])
def test_schema_driven_fuzz(fuzz_server, generator):
    run_fuzz(fuzz_server, generator, DEFAULT_EXAMPLES, derandomize=True)  # the same cases every run
    print(dict(sorted((k[1], v) for k, v in CASES.items() if k[0] == generator)))


@pytest.mark.fuzz
@pytest.mark.parametrize("generator", ["positive", "negative", "hostile"])
def test_schema_driven_fuzz_long(fuzz_server, generator):
    run_fuzz(fuzz_server, generator, FUZZ_EXAMPLES, derandomize=False)  # new cases every run
    print(dict(sorted((k[1], v) for k, v in CASES.items() if k[0] == generator)))
