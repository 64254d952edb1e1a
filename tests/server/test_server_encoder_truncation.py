"""An encoder model (MiniLM, 256 tokens) behind the server: long inputs are truncated by tokens, not refused."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def minilm_client(minilm_embedder):
    from fastapi.testclient import TestClient

    from q3embed.server import ServerSettings, create_app

    app = create_app(minilm_embedder, None, settings=ServerSettings())
    with TestClient(app) as client:
        yield client
    app.state.q3.close()


def test_long_document_is_truncated_like_the_engine(minilm_client, minilm_embedder):
    text = "Photosynthesis turns light into sugar. " * 150  # ~5,900 characters, far over 256 tokens
    r = minilm_client.post("/v1/embeddings", json={"input": [text], "model": minilm_embedder.name})
    assert r.status_code == 200, r.text
    got = np.array(r.json()["data"][0]["embedding"], dtype=np.float32)
    np.testing.assert_allclose(got, minilm_embedder.encode([text])[0], atol=1e-5)


def test_without_truncation_the_refusal_counts_tokens(minilm_embedder):
    from fastapi.testclient import TestClient

    from q3embed.server import ServerSettings, create_app

    app = create_app(minilm_embedder, None, settings=ServerSettings(truncate=False))
    try:
        r = TestClient(app).post("/v1/embeddings", json={"input": ["word " * 2000]})
        assert r.status_code == 400 and "token" in r.text
    finally:
        app.state.q3.close()


def test_long_instruction_is_truncated_not_refused(minilm_client, minilm_embedder):
    # The per-input character limit (the runtime's, under the service's settings) is a guard far
    # above a real instruction; a copy of an old characters-per-token rule in the routes once
    # refused this 5,900-character instruction with 413.
    instruction = "Retrieve passages about plants. " * 185
    r = minilm_client.post("/v1/embeddings", json={"input": ["sugar"], "instruction": instruction,
                                                   "model": minilm_embedder.name})
    assert r.status_code == 200, r.text
    got = np.array(r.json()["data"][0]["embedding"], dtype=np.float32)
    np.testing.assert_allclose(got, minilm_embedder.encode(["sugar"], instruction=instruction)[0], atol=1e-5)
