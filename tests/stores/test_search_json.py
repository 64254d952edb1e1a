"""`q3embed search --json`: the shape docs/search.md documents, one {"query", "hits"} object per query
(JSON Lines), each hit the same object /v1/retrieve returns in its results."""

import json

from q3embed.cli import main

DOCS = [{"id": "d1", "text": "Paris is the capital of France."}, {"id": "d2", "text": "Rain falls from clouds."},
        {"id": "d3", "text": "Yeast makes bread rise."}]
HIT_KEYS = {"id", "score", "rerank_score", "stages", "text", "chunk", "start", "end", "meta"}  # as docs/search.md lists them


def test_search_json_prints_the_documented_object_per_query(tmp_path, tiny_embedder, tiny_embedding_dir, capsys):
    from fastapi.testclient import TestClient

    from q3embed import Index, Retriever
    from q3embed.server import create_app

    idx = Index.build(tmp_path / "idx", DOCS, tiny_embedder).root
    capsys.readouterr()
    assert main(["search", str(idx), "capital of France", "--top-k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # one query: exactly one JSON object, not a list
    assert set(out) == {"query", "hits"} and out["query"] == "capital of France" and len(out["hits"]) == 2
    assert set(out["hits"][0]) <= HIT_KEYS and {"id", "score", "text"} <= set(out["hits"][0])

    app = create_app(tiny_embedder, retriever=Retriever(tiny_embedder, Index.open(idx, tiny_embedder)))
    try:
        served = TestClient(app).post("/v1/retrieve", json={"query": "capital of France", "top_k": 2}).json()
    finally:
        app.state.q3.close()
    assert [h["id"] for h in served["results"]] == [h["id"] for h in out["hits"]]
    assert set(served["results"][0]) == set(out["hits"][0])

    assert main(["search", str(idx), "capital of France", "bread", "--top-k", "1", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()  # many queries: one object per line
    assert [json.loads(line)["query"] for line in lines] == ["capital of France", "bread"]
