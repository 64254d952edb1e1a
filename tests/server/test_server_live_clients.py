"""A live uvicorn server on localhost, driven by the official openai and cohere clients."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import numpy as np
import pytest

openai = pytest.importorskip("openai")
cohere = pytest.importorskip("cohere")

TEXTS = ["What is the capital of China?", "The capital of China is Beijing.", "Gravity is a force."]


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def oai(live_server, api_key):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=api_key, max_retries=0, timeout=60)


def test_openai_client_embeddings_equal_encode(oai, tiny_embedder):
    # The client asks for base64 unless told otherwise, and decodes it as little-endian float32.
    resp = oai.embeddings.create(model=tiny_embedder.name, input=TEXTS, dimensions=32)
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    np.testing.assert_allclose(got, tiny_embedder.encode(TEXTS, dim=32), atol=1e-6)
    assert resp.usage.prompt_tokens == sum(len(r) for r in tiny_embedder.tokenize(TEXTS))
    resp = oai.embeddings.create(model=tiny_embedder.name, input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(resp.data[0].embedding, tiny_embedder.encode(TEXTS[0]), atol=1e-6)


def test_openai_client_queries_and_token_ids(oai, tiny_embedder):
    resp = oai.embeddings.create(model=tiny_embedder.name, input=TEXTS[:2], extra_body={"input_type": "query"})
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    np.testing.assert_allclose(got, tiny_embedder.encode_queries(TEXTS[:2]), atol=1e-6)
    ids = tiny_embedder.tokenize(TEXTS[:2])
    resp = oai.embeddings.create(model=tiny_embedder.name, input=ids, extra_body={"token_vocab": "model"})
    np.testing.assert_allclose([d.embedding for d in resp.data], tiny_embedder.encode(TEXTS[:2]), atol=1e-6)


def test_openai_client_errors(live_server, oai, tiny_embedder):
    with pytest.raises(openai.NotFoundError, match="not-a-model"):
        oai.embeddings.create(model="not-a-model", input=["x"])
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        oai.embeddings.create(model=tiny_embedder.name, input=["x"], dimensions=4096)
    no_key = openai.OpenAI(base_url=live_server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        no_key.embeddings.create(model=tiny_embedder.name, input=["x"])
    assert httpx.get(live_server.url + "/health").status_code == 200


def test_cohere_client_rerank_equals_score(live_server, api_key, tiny_reranker):
    docs = ["Beijing is the capital of China.", "Gravity is a force.", "Pandas eat bamboo."]
    expected = tiny_reranker.score("capital of China", docs)
    co = cohere.Client(api_key=api_key, base_url=live_server.url, timeout=60)
    resp = co.rerank(model=tiny_reranker.name, query="capital of China", documents=docs, top_n=2,
                     return_documents=True)
    assert [r.index for r in resp.results] == list(np.argsort(-expected, kind="stable")[:2])
    np.testing.assert_allclose([r.relevance_score for r in resp.results], np.sort(expected)[::-1][:2], atol=1e-6)
    assert resp.results[0].document.text == docs[resp.results[0].index]
    v2 = cohere.ClientV2(api_key=api_key, base_url=live_server.url, timeout=60)
    resp = v2.rerank(model=tiny_reranker.name, query="capital of China", documents=docs)
    by_index = {r.index: r.relevance_score for r in resp.results}
    np.testing.assert_allclose([by_index[i] for i in range(3)], expected, atol=1e-6)
    with pytest.raises(cohere.core.api_error.ApiError) as e:
        cohere.Client(api_key="wrong", base_url=live_server.url).rerank(query="q", documents=["d"])
    assert e.value.status_code == 401


def test_concurrent_requests_are_batched_and_equal_encoding_each_alone(live_server, oai, tiny_embedder,
                                                                        gate_factory):
    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()
    requests = [[" ".join(rng.choice(words, rng.integers(1, 30))) for _ in range(rng.integers(1, 5))]
                for _ in range(24)]
    dims = [int(rng.choice([32, 48, 64])) for _ in requests]
    batcher = live_server.server.config.app.state.q3.embedding.batcher
    gate = gate_factory(batcher)  # holds the worker, so that every request below queues up together

    def call(i):
        resp = oai.embeddings.create(model=tiny_embedder.name, input=requests[i], dimensions=dims[i])
        return np.array([d.embedding for d in resp.data], dtype=np.float32)

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        first = pool.submit(call, 0)
        assert gate.entered.wait(30)
        rest = [pool.submit(call, i) for i in range(1, len(requests))]
        queued = sum(len(r) for r in requests[1:])
        wait_for(lambda: batcher.queued_rows == queued, f"{queued} rows to queue")
        gate.open()
        results = [first.result(60)] + [f.result(60) for f in rest]
    for rows, dim, got in zip(requests, dims, results):
        np.testing.assert_allclose(got, tiny_embedder.encode(rows, dim=dim), atol=1e-5)
    # Rows of different requests shared forward passes: fewer passes than requests.
    assert len(gate.batch_sizes) < len(requests) and max(gate.batch_sizes) > max(map(len, requests))


def test_full_queue_is_429_with_retry_after(tiny_embedder, gate_factory, api_key, start_server):
    from q3embed.server import ServerSettings, create_app

    app = create_app(tiny_embedder, settings=ServerSettings(max_queue=4, max_items=4, api_key=api_key))
    server = start_server(app)
    gate = gate_factory(app.state.q3.embedding.batcher)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            busy = pool.submit(httpx.post, server.url + "/v1/embeddings", json={"input": ["a", "b", "c"]},
                               headers=headers, timeout=60)
            assert gate.entered.wait(30)
            r = httpx.post(server.url + "/v1/embeddings", json={"input": ["d", "e"]}, headers=headers)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "queue_full"
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0)
            with pytest.raises(openai.RateLimitError):
                client.embeddings.create(model=tiny_embedder.name, input=["d", "e"])
            gate.open()
            assert busy.result(60).status_code == 200
        r = httpx.post(server.url + "/v1/embeddings", json={"input": ["d", "e"]}, headers=headers)
        assert r.status_code == 200  # room again
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        gate.open()


def test_shutdown_finishes_in_flight_requests(tiny_embedder, gate_factory, start_server):
    from q3embed.server import ServerSettings, create_app
    from q3embed.server.batcher import BatcherClosedError

    app = create_app(tiny_embedder, settings=ServerSettings())
    server = start_server(app)
    batcher = app.state.q3.embedding.batcher
    gate = gate_factory(batcher)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(httpx.post, server.url + "/v1/embeddings", json={"input": TEXTS}, timeout=60)
        assert gate.entered.wait(30)
        stopping = pool.submit(server.stop)  # the same flag uvicorn's SIGTERM handler sets
        time.sleep(0.2)
        assert not in_flight.done()
        gate.open()
        r = in_flight.result(60)
        stopping.result(60)
    assert r.status_code == 200
    np.testing.assert_allclose([d["embedding"] for d in r.json()["data"]], tiny_embedder.encode(TEXTS), atol=1e-6)
    assert not server.thread.is_alive()
    with pytest.raises(BatcherClosedError):  # the lifespan shutdown drained and stopped the worker
        batcher.submit([[1]])


def test_encoder_model_served_equals_encode(minilm_embedder, start_server):
    from q3embed.server import create_app

    server = start_server(create_app(minilm_embedder))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    resp = client.embeddings.create(model=minilm_embedder.name, input=TEXTS, dimensions=256)
    np.testing.assert_allclose([d.embedding for d in resp.data], minilm_embedder.encode(TEXTS, dim=256), atol=1e-5)


@pytest.mark.slow
def test_openai_client_dimensions_256(tmp_path_factory, qwen3_tokenizer_dir, start_server):
    """The OpenAI client's dimensions=256 call, on a 512-wide random Qwen3 (too slow to build for the default run)."""
    from q3embed import Embedder
    from q3embed.model.tiny import save_tiny_qwen3
    from q3embed.server import create_app

    path = save_tiny_qwen3(tmp_path_factory.mktemp("wide"), kind="embedding", seed=3,
                           tokenizer_dir=qwen3_tokenizer_dir, hidden_size=512)
    emb = Embedder.load(path, device="cpu", dtype="float32")
    server = start_server(create_app(emb))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    resp = client.embeddings.create(model=emb.name, input=TEXTS, dimensions=256)
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    assert got.shape == (3, 256)
    np.testing.assert_allclose(got, emb.encode(TEXTS, dim=256), atol=1e-6)
