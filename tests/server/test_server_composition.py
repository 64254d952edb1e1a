"""The server runs the engine's own contract, bounds each request's work up front, and composes /v1/retrieve
from the two model queues."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

import q3embed.server as server_pkg

DOCS = [{"id": f"d{i}", "text": t} for i, t in enumerate([
    "Beijing is the capital of China.", "Gravity pulls apples to the ground.", "Pandas live in Sichuan.",
    "The Great Wall is in northern China.", "Paris is the capital of France."])]


def test_the_server_keeps_no_tokenizer_template_or_engine_internals():
    forbidden = re.compile(r"tokenizer|format_query|format_rerank|RERANK_PREFIX|EmbeddingTokenizer|RerankTokenizer|"
                           r"is_decoder|get_input_embeddings|eos_id")
    for path in Path(server_pkg.__file__).parent.glob("*.py"):
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        code = code.split('"""', 2)[-1]  # past the module docstring
        assert not forbidden.findall(code), f"{path.name}: {forbidden.findall(code)}"
        if path.name in ("services.py", "state.py", "routes.py"):  # no lock held across requests or services
            assert "Lock(" not in code and "_lock" not in code, path.name


@pytest.fixture(scope="module")
def app_and_client(tmp_path_factory, tiny_embedder, tiny_reranker):
    from fastapi.testclient import TestClient

    from q3embed import Index, Retriever
    from q3embed.server import ServerSettings, create_app

    index = Index.build(tmp_path_factory.mktemp("composition") / "idx", DOCS, tiny_embedder)
    retriever = Retriever(tiny_embedder, CountingIndex(Index.open(index.root, tiny_embedder)), reranker=tiny_reranker)
    app = create_app(tiny_embedder, tiny_reranker, retriever=retriever,
                     settings=ServerSettings(max_queue=512, max_items=256))
    with TestClient(app) as client:
        yield app, client, retriever


class CountingIndex:
    """An index that counts how often the server asks it (no cached answers)."""

    def __init__(self, inner):
        self.inner, self.spec, self.searches = inner, inner.spec, 0

    def search(self, *args, **kwargs):
        self.searches += 1
        return self.inner.search(*args, **kwargs)

    def __getattr__(self, name):  # the rest of the store contract (check_embedder, ...)
        return getattr(self.inner, name)


def test_amplified_instruction_is_refused_before_any_tokenizing(app_and_client, monkeypatch):
    app, client, _ = app_and_client
    emb = app.state.q3.embedding.embedder
    calls = []
    monkeypatch.setattr(emb, "_tok", lambda *a, **k: calls.append(1))
    # An amplification attack: a 200k-character instruction with 256 one-letter inputs (about 201 KB of body
    # that would tokenize to 256 x 200k characters).
    r = client.post("/v1/embeddings", json={"input": ["a"] * 256, "instruction": "x" * 200_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large"
    # Under the per-input limit, but 256 repeats of it pass the per-request limit (max_request_chars).
    r = client.post("/v1/embeddings", json={"input": ["a"] * 256, "instruction": "x" * 130_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert "max_request_chars" in r.json()["error"]["message"]
    # A rerank query counts once per document.
    r = client.post("/v1/rerank", json={"query": "q" * 130_000, "documents": ["d"] * 256})
    assert r.status_code == 413 and r.json()["error"]["param"] == "documents"
    assert not calls  # refused before the tokenizer saw anything


def test_retrieve_is_shed_with_429_when_the_rerank_queue_is_full(app_and_client):
    app, client, _ = app_and_client
    rerank = app.state.q3.retrieval.rerank.batcher
    with rerank.reserve(rerank.max_queue - 2):  # other requests hold all but 2 rows
        r = client.post("/v1/retrieve", json={"query": "capital", "top_k": 2, "rerank_top": 5})
        assert r.status_code == 429 and "Retry-After" in r.headers
    r = client.post("/v1/retrieve", json={"query": "capital", "top_k": 2, "rerank_top": 5})
    assert r.status_code == 200, r.text


def test_an_embedding_is_answered_while_a_retrieve_waits_in_the_rerank_queue(app_and_client):
    app, client, retriever = app_and_client
    batcher = app.state.q3.retrieval.rerank.batcher
    entered, release = threading.Event(), threading.Event()
    forward = batcher.forward

    def held(rows):
        entered.set()
        assert release.wait(30)
        return forward(rows)

    batcher.forward = held
    try:
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", client.post(
            "/v1/retrieve", json={"query": "capital of China", "top_k": 3, "rerank_top": 5})))
        t.start()
        assert entered.wait(30)  # the retrieve is now inside the reranker's forward
        r = client.post("/v1/embeddings", json={"input": "one text"})
        assert r.status_code == 200  # no lock across services: the embedding queue runs on
        release.set()
        t.join(30)
    finally:
        release.set()
        batcher.forward = forward
    expected = retriever.search("capital of China", top_k=3, rerank_top=5)
    got = out["r"].json()["results"]
    assert [h["id"] for h in got] == [h.id for h in expected]
    np.testing.assert_allclose([h["rerank_score"] for h in got], [h.rerank_score for h in expected], atol=1e-6)


def test_the_store_is_asked_on_every_request(app_and_client):
    _, client, retriever = app_and_client
    before = retriever.index.searches
    for _ in range(2):
        assert client.post("/v1/retrieve", json={"query": "pandas", "top_k": 1}).status_code == 200
    assert retriever.index.searches == before + 2


def test_batch_metric_counts_the_models_rule(app_and_client):
    _, client, _ = app_and_client
    client.post("/v1/embeddings", json={"input": ["one", "two three four five six"]})
    text = client.get("/metrics").text
    assert "q3embed_batch_tokens_total" in text and "padded_tokens" not in text
