"""K concurrent clients mix /v1/embeddings, /v1/rerank and /v1/retrieve:

- every answer equals the same request answered alone (|delta| <= 1e-5);
- zero 5xx;
- every answer is a 200: the load fits the queues, nothing is shed.

That a one-text embedding never waits behind rerank work is shown as an ordering, without timing, by
test_server_composition.py (an embedding is answered while a retrieve is held inside the reranker). Its
latency under this load against unloaded is a benchmark figure (bench/server_load.py), not an assert:
a timing ratio on a shared 2-core machine flakes.

Bounded: a fixed number of requests per client on tiny models (a few seconds on two cores). The
clients share the server's process (and its GIL), so their own work is kept small: embeddings come
back as base64 and retrieves without text.
"""

from __future__ import annotations

import base64
import threading

import httpx
import numpy as np
import pytest

WORDS = ("capital china beijing gravity apple protein cell gene river mountain energy market price model data "
         "network query document search index vector embedding rerank server batch token panda bamboo").split()
N_DOCS = 150
RETRIEVE_CLIENTS = 2
PROBES = 50  # one-text embedding requests sent while the retrieves run
MAX_RETRIEVES = 40  # per retrieve client: they run until the probes are done, at most this many


def _text(rng: np.random.Generator, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS, int(rng.integers(lo, hi))))


@pytest.fixture
def mixed_server(tmp_path_factory, tiny_embedder, tiny_reranker, start_server):
    from q3embed import Index, Retriever
    from q3embed.server import create_app

    rng = np.random.default_rng(13)
    docs = [{"id": f"d{i}", "text": f"doc {i}: " + _text(rng, 8, 40)} for i in range(N_DOCS)]
    index = Index.build(tmp_path_factory.mktemp("mixed") / "idx", docs, tiny_embedder)
    retriever = Retriever(tiny_embedder, Index.open(index.root, tiny_embedder), reranker=tiny_reranker)
    return start_server(create_app(tiny_embedder, tiny_reranker, retriever=retriever))


def _requests(rng: np.random.Generator) -> dict[str, list[tuple[str, dict]]]:
    return {
        "embed": [("/v1/embeddings", {"input": [_text(rng, 2, 30) for _ in range(int(rng.integers(1, 6)))],
                                      "dimensions": int(rng.choice([32, 64])), "encoding_format": "base64"})
                  for _ in range(6)],
        "rerank": [("/v1/rerank", {"query": _text(rng, 2, 8), "documents": [_text(rng, 5, 30) for _ in range(24)]})
                   for _ in range(4)],
        "retrieve": [("/v1/retrieve", {"query": _text(rng, 2, 8), "top_k": 10, "rerank_top": 100, "return_text": False})
                     for _ in range(4)],
        "probe": [("/v1/embeddings", {"input": f"probe {i} " + _text(rng, 3, 10)}) for i in range(8)],
    }


def _values(path: str, answer: dict) -> tuple[list, np.ndarray]:
    """(identity, numbers) of an answer, for comparing a loaded answer with the same request alone."""
    if path == "/v1/embeddings":
        vectors = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") if isinstance(d["embedding"], str)
                   else np.array(d["embedding"]) for d in answer["data"]]
        return [d["index"] for d in answer["data"]], np.stack(vectors)
    if path == "/v1/rerank":
        return [r["index"] for r in answer["results"]], np.array([r["relevance_score"] for r in answer["results"]])
    hits = answer["results"]
    return [h["id"] for h in hits], np.array([[h["score"], h["rerank_score"]] for h in hits])


def test_mixed_load_answers_equal_alone_with_no_5xx(mixed_server):
    url = mixed_server.url
    reqs = _requests(np.random.default_rng(0))
    with httpx.Client(base_url=url, timeout=120) as c:
        alone = {(kind, i): c.post(path, json=body).json() for kind, items in reqs.items()
                 for i, (path, body) in enumerate(items)}  # each request answered alone (also warms up)

    answers: list[tuple[str, int, int, dict | None]] = []  # (kind, request index, status, body)
    retrieves_running = threading.Event()
    probes_done = threading.Event()
    lock = threading.Lock()

    def client(kind: str, count: int) -> None:
        items = reqs[kind]
        with httpx.Client(base_url=url, timeout=120) as c:
            for k in range(count):
                if kind == "retrieve" and probes_done.is_set():
                    break
                if kind == "probe":
                    retrieves_running.wait(30)
                path, body = items[k % len(items)]
                r = c.post(path, json=body)
                with lock:
                    answers.append((kind, k % len(items), r.status_code, r.json() if r.status_code == 200 else None))
                if kind == "retrieve":
                    retrieves_running.set()
        if kind == "probe":
            probes_done.set()

    threads = [threading.Thread(target=client, args=("retrieve", MAX_RETRIEVES)) for _ in range(RETRIEVE_CLIENTS)]
    threads += [threading.Thread(target=client, args=("rerank", 6)),
                threading.Thread(target=client, args=("embed", 10)),
                threading.Thread(target=client, args=("probe", PROBES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "a client did not finish"

    statuses = [status for _, _, status, _ in answers]
    assert not [s for s in statuses if s >= 500], statuses
    assert all(s == 200 for s in statuses), statuses  # nothing was shed either: the load fits the queue
    assert {kind for kind, *_ in answers} == {"embed", "rerank", "retrieve", "probe"}
    for kind, i, _, answer in answers:
        path = reqs[kind][i][0]
        got_ids, got = _values(path, answer)
        want_ids, want = _values(path, alone[(kind, i)])
        assert got_ids == want_ids, (kind, i)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{kind} request {i}")
    assert sum(kind == "probe" for kind, *_ in answers) == PROBES
