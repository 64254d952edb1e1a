"""/v1/retrieve over a real q3embed Index and Retriever (tiny models)."""

from __future__ import annotations

import pytest

DOCS = [
    {"id": "d1", "text": "Beijing is the capital of China."},
    {"id": "d2", "text": "Gravity pulls apples to the ground."},
    {"id": "d3", "text": "Pandas live in the mountains of Sichuan."},
    {"id": "d4", "text": "The Great Wall is in northern China."},
    {"id": "d5", "text": "Paris is the capital of France."},
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, tiny_embedder, tiny_reranker):
    from q3embed import Index, Retriever

    index = Index.build(tmp_path_factory.mktemp("server_index") / "idx", DOCS, tiny_embedder)
    return Retriever(tiny_embedder, Index.open(index.root, tiny_embedder), reranker=tiny_reranker)


@pytest.fixture(scope="module")
def retrieve_client(retriever, tiny_embedder, tiny_reranker):
    from fastapi.testclient import TestClient

    from q3embed.server import create_app

    app = create_app(tiny_embedder, tiny_reranker, retriever=retriever)
    yield TestClient(app)
    app.state.q3.close()


def test_retrieve_equals_the_retriever(retrieve_client, retriever):
    r = retrieve_client.post("/v1/retrieve", json={"query": "capital of China", "top_k": 3, "rerank_top": 5})
    assert r.status_code == 200, r.text
    expected = retriever.search("capital of China", top_k=3, rerank_top=5)
    got = r.json()["results"]
    assert [h["id"] for h in got] == [h.id for h in expected]
    assert [h["rerank_score"] for h in got] == pytest.approx([h.rerank_score for h in expected], abs=1e-6)
    assert [h["score"] for h in got] == pytest.approx([h.score for h in expected], abs=1e-6)
    assert got[0]["text"] == next(d["text"] for d in DOCS if d["id"] == got[0]["id"])


def test_retrieve_without_text_and_bad_mode(retrieve_client):
    r = retrieve_client.post("/v1/retrieve", json={"query": "pandas", "top_k": 2, "return_text": False})
    assert r.status_code == 200 and all("text" not in h for h in r.json()["results"])
    r = retrieve_client.post("/v1/retrieve", json={"query": "pandas", "method": "no-such-method"})
    assert r.status_code == 400 and "no-such-method" in r.json()["error"]["message"]
    r = retrieve_client.post("/v1/retrieve", json={"query": "pandas", "mode": "no-such-mode"})
    assert r.status_code in (400, 422), r.text
    assert '"dense", "lexical" or "hybrid"' in r.json()["error"]["message"], r.text
    for mode in ("dense", "lexical", "hybrid"):  # an empty query is refused as `q3embed search ""` refuses it
        r = retrieve_client.post("/v1/retrieve", json={"query": "  ", "mode": mode})
        assert r.status_code == 400 and r.json()["error"]["code"] == "empty_input", r.text
    assert retrieve_client.get("/health").json()["index"] is True


def test_serve_cli_loads_an_index(retriever, tiny_embedder, tiny_embedding_dir):
    from argparse import Namespace

    from q3embed import Retriever
    from q3embed.cli.serve import _load

    args = Namespace(model=str(tiny_embedding_dir), reranker=None, index=str(retriever.index.root), device="cpu",
                     dtype="float32", max_length=None, quantize=None, allow_special_tokens=False)
    embedder, reranker, loaded = _load(args)
    assert reranker is None and loaded.embedder is embedder and loaded.reranker is None
    first_stage = Retriever(tiny_embedder, retriever.index)  # the same index, no reranker
    assert [h.id for h in loaded.search("capital of China", top_k=3)] == \
        [h.id for h in first_stage.search("capital of China", top_k=3)]
