"""One contract, every store: the embedded Index, Qdrant (local mode) and pgvector (a real PostgreSQL).

Each test runs against all three through the ``VectorStore`` protocol only, so a store that
differs in a signature, a return type or an error fails here.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from q3embed.stores import (AnnConfig, DuplicateIdError, Index, IndexMismatchError, Retriever, UnknownIdError,
                            VectorStore)
from q3embed.stores.ingest import check_records
from q3embed.stores.protocol import VectorStore as Proto

STORES = ["index", "qdrant", "pgvector"]


def make_store(kind, tmp_path, embedder, request, chunking=None):
    if kind == "index":
        return Index.create(tmp_path / "idx", embedder, chunking=chunking)
    if kind == "qdrant":
        qdrant_client = pytest.importorskip("qdrant_client")
        from q3embed.stores.qdrant import QdrantStore

        return QdrantStore.create(qdrant_client.QdrantClient(":memory:"), "docs", embedder, chunking=chunking)
    from q3embed.stores.pgvector import PgVectorStore

    url = request.getfixturevalue("pg_url")
    return PgVectorStore.create(url, embedder, chunking=chunking)


def reopen(kind, store, embedder):
    if kind == "index":
        return Index.open(store.root, embedder)
    if kind == "qdrant":
        from q3embed.stores.qdrant import QdrantStore

        return QdrantStore.open(store.client, store.collection, embedder)
    from q3embed.stores.pgvector import PgVectorStore

    return PgVectorStore.open(request_url(store), embedder)


def request_url(store):
    conninfo = store.conn.info.dsn
    # the DSN psycopg reports is key=value; rebuild a URL for the same socket and database
    kv = dict(p.split("=", 1) for p in conninfo.split())
    return f"postgresql://{kv.get('user', 'postgres')}@/{kv['dbname']}?host={kv['host']}&collection={store.collection}"


@pytest.fixture(params=STORES)
def kind(request):
    return request.param


@pytest.fixture
def store(kind, tmp_path, hash_embedder, request):
    s = make_store(kind, tmp_path, hash_embedder, request)
    yield s
    s.close()


def test_every_store_implements_the_protocol_with_identical_signatures(store):
    assert isinstance(store, VectorStore)
    for name in ("add", "add_records", "delete", "search", "count", "check_embedder", "attach", "close",
                 "stored_chunks", "whole_ids", "partial_documents", "writer", "set_building"):
        if name not in Proto.__dict__:
            continue
        got = inspect.signature(getattr(type(store), name))
        want = inspect.signature(getattr(Proto, name))
        assert list(got.parameters) == list(want.parameters), name
        assert [p.default for p in got.parameters.values()] == [p.default for p in want.parameters.values()], name
    assert store.search_methods[0] == "exact" and "hnsw" in store.search_methods
    assert store.spec.dim == 64 and store.spec.model == "hash-embedder"


def test_add_search_count_delete(store, small_docs, hash_embedder):
    assert store.add(small_docs[:30]) == 30
    assert store.count() == 30
    hits = store.search("cooking bread oven flour item7", top_k=5)
    assert isinstance(hits, list) and hits[0].id == "d7" and len(hits) == 5
    assert hits[0].text == small_docs[7][1]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    several = store.search(["football goal match team item2", "music guitar chord melody item4"], top_k=3)
    assert [h[0].id for h in several] == ["d2", "d4"]
    vec = hash_embedder.encode_queries(["football goal match team item2"])[0]
    assert store.search(vec, top_k=1)[0].id == "d2"  # a (dim,) vector is one query
    assert store.delete(["d1", "d2"]) == 2
    assert store.count() == 28
    with pytest.raises(UnknownIdError, match="nope"):
        store.delete(["d3", "nope"])
    assert store.count() == 28  # nothing was deleted
    assert store.delete(["d3", "nope"], missing="ignore") == 1


def test_duplicates_error_replace_skip(store, small_docs):
    store.add(small_docs[:10])
    with pytest.raises(DuplicateIdError, match="already holds 1"):
        store.add([("d1", "dup"), ("new", "fresh words")])
    assert store.count() == 10  # refused before anything was written
    assert store.add([("d1", "replaced words zebra")], on_duplicate="replace") == 1
    assert store.count() == 10 and store.search("replaced words zebra", top_k=1)[0].id == "d1"
    assert store.add([("d1", "ignored"), ("d99", "another new one")], on_duplicate="skip") == 1
    assert store.count() == 11 and store.search("replaced words zebra", top_k=1)[0].text == "replaced words zebra"


def test_scores_agree_across_stores(tmp_path, small_docs, hash_embedder, request):
    queries = hash_embedder.encode_queries(["cooking bread", "football goal", "music guitar"])
    results = {}
    for kind in STORES:
        s = make_store(kind, tmp_path / kind, hash_embedder, request)
        s.add(small_docs)
        results[kind] = s.search(queries, top_k=5)
        s.close()
    for kind in STORES[1:]:
        for a, b in zip(results["index"], results[kind]):
            assert [h.id for h in a] == [h.id for h in b], kind
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)


def test_chunked_documents_come_back_once_and_whole(kind, tmp_path, hash_embedder_cls, request):
    from q3embed.stores import ChunkingConfig

    emb = hash_embedder_cls(width=32, words=True)
    s = make_store(kind, tmp_path, emb, request, chunking=ChunkingConfig(tokens=4))
    long_doc = " ".join(f"rivers{i} flow" for i in range(10))  # 20 words: 5 chunks
    s.add([("long", long_doc), ("short", "mountains")], commit_every=2)
    assert s.stored_chunks(["long", "short", "none"]) == {"long": [0, 1, 2, 3, 4], "short": [0]}
    hits = s.search("rivers3 flow", top_k=5)
    assert sorted(h.id for h in hits) == ["long", "short"]
    assert hits[0].id == "long" and "rivers3" in hits[0].text
    # a shorter new version leaves no stale chunks behind
    s.add([("long", "rivers0 flow rivers1")], on_duplicate="replace")
    assert s.stored_chunks(["long"]) == {"long": [0]}
    s.close()


def test_add_records_holds_whole_documents_only(store, hash_embedder):
    vecs = hash_embedder.encode_documents(["a b", "c d"])
    with pytest.raises(ValueError, match="whole documents"):
        store.add_records([{"id": "x", "chunk": 0, "n_chunks": 3}, {"id": "x", "chunk": 1, "n_chunks": 3}], vecs)
    with pytest.raises(IndexMismatchError):
        store.add_records([{"id": "x"}], np.zeros((1, 7), np.float32))
    assert store.add_records([{"id": "x", "text": "a b"}, {"id": "y", "text": "c d"}], vecs) == 2
    assert store.count() == 2


def test_metadata_filter(store, hash_embedder):
    from q3embed.data import Document

    store.add([Document("a", "solar panels energy", {"lang": "en"}), Document("b", "solar panels energy two",
                                                                              {"lang": "de"})])
    hits = store.search("solar panels energy", top_k=5, where={"lang": "de"})
    assert [h.id for h in hits] == ["b"] and hits[0].meta == {"lang": "de"}


def test_hnsw_method_and_tuning(store, small_docs):
    store.add(small_docs)
    exact = store.search("biology cell protein gene", top_k=5)
    approx = store.search("biology cell protein gene", top_k=5, method="hnsw", tuning=AnnConfig(ef_search=100))
    assert len({h.id for h in exact} & {h.id for h in approx}) >= 4
    with pytest.raises(ValueError, match="search mode"):
        store.search("x", mode="nope")
    with pytest.raises(ValueError, match="top_k"):
        store.search("x", top_k=0)


def test_another_model_is_refused_before_anything_is_written(kind, store, small_docs, hash_embedder_cls):
    store.add(small_docs[:5])
    other = hash_embedder_cls(width=64, seed=3, name="other-model")
    with pytest.raises(IndexMismatchError, match="different vectors"):
        reopen(kind, store, other)
    with pytest.raises(IndexMismatchError, match="width 32"):
        store.attach(hash_embedder_cls(width=32))
    with pytest.raises(IndexMismatchError):
        store.search(np.zeros((1, 32), np.float32))
    assert store.count() == 5


def test_retriever_takes_any_store(store, small_docs, hash_embedder, hash_embedder_cls):
    store.add(small_docs[:12])
    hits = Retriever(hash_embedder, store).search("football goal match team item2", top_k=3)
    assert hits[0].id == "d2"
    with pytest.raises(IndexMismatchError):
        Retriever(hash_embedder_cls(width=64, seed=5), store)


def test_check_records_fills_counts():
    from q3embed.stores.spec import IndexSpec

    recs = [{"id": "a", "text": "x"}]
    check_records(recs, np.zeros((1, 4), np.float32), IndexSpec("m", 4, 4), "here")
    assert recs[0]["n_chunks"] == 1 and recs[0]["chunk"] == 0


def store_part_of(kind, store, records, vectors) -> None:
    """What a writer killed mid-document by an older version could leave: some chunks of a document.
    No store's public write allows it, so each is reached directly (test-only)."""
    if kind == "index":
        with store.writer():
            store._commit_segment(vectors, records, [])
    elif kind == "qdrant":
        store._upsert(records, vectors)
    else:
        import json

        with store.conn.transaction():
            for r, v in zip(records, vectors):
                store.conn.execute(f"INSERT INTO {store._table} (doc_id, chunk, n_chunks, start_char, end_char, text, "
                                   "meta, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                                   (r["id"], r["chunk"], r["n_chunks"], r["start"], r["end"], r["text"], json.dumps({}), v))


def test_whole_ids_and_the_idempotent_whole_document_write(kind, tmp_path, hash_embedder, request):
    """What a resumed or retried build relies on: ``whole_ids`` leaves out documents stored in part, and
    ``add_records(..., on_duplicate="skip")`` run again (a retry) stores every chunk exactly once."""
    from q3embed.stores import ChunkingConfig

    s = make_store(kind, tmp_path, hash_embedder, request, chunking=ChunkingConfig(tokens=4))
    assert s.whole_ids() == set()
    records = [{"id": d, "chunk": c, "n_chunks": n, "start": 0, "end": 1, "text": f"{d} words {c}"}
               for d, n in (("a", 1), ("b", 3), ("p", 3)) for c in range(n)]
    vectors = hash_embedder.encode_documents([r["text"] for r in records])  # (7, 64)
    assert s.add_records(records[:4], vectors[:4], on_duplicate="skip") == 2  # a, b
    store_part_of(kind, s, records[4:5], vectors[4:5])  # p: chunk 0 of 3
    assert s.whole_ids() == {"a", "b"} and list(s.partial_documents()) == ["p"]
    assert s.stored_chunks(["p"]) == {"p": [0]}
    for _ in range(2):  # the write, then the same write retried: nothing doubles, p is made whole
        s.add_records(records, vectors, on_duplicate="skip")
        assert s.whole_ids() == {"a", "b", "p"}
        assert s.stored_chunks(["a", "b", "p"]) == {"a": [0], "b": [0, 1, 2], "p": [0, 1, 2]}
        assert s.count() == 3 and not s.partial_documents()
    hits = s.search(vectors[5], top_k=3)
    assert hits[0].id == "p" and len({h.id for h in hits}) == len(hits)
    s.close()


def test_build_mark_and_writer_slot(kind, store):
    assert store.interrupted is False
    with store.writer(), store.writer():  # re-entrant: a build holds it while its writes take it again
        store.set_building(True)
        assert store.interrupted is True
        store.add([("x", "some words")])
    assert store.interrupted is True  # until the build says it finished
    store.set_building(False)
    assert store.interrupted is False and store.count() == 1


def test_lexical_and_hybrid_follow_every_write(store, small_docs):
    store.add(small_docs)
    hits = store.search("Cooking item7", top_k=3, mode="lexical")
    assert hits[0].id == "d7" and all(h.stages == ["lexical"] for h in hits)
    hybrid = store.search("cooking bread item7", top_k=5, mode="hybrid")
    assert hybrid[0].id == "d7" and hybrid[0].stages == ["dense", "lexical"] and len({h.id for h in hybrid}) == 5
    assert store.search("the of and", top_k=3, mode="lexical") == []  # only stop words: no lexical hits
    assert all(h.stages == ["dense"] for h in store.search("the of and", top_k=3, mode="hybrid"))
    store.delete(["d7"])
    assert "d7" not in {h.id for h in store.search("item7", top_k=5, mode="lexical")}
    store.add([("d8", "volcanoes erupt lava")], on_duplicate="replace")
    assert [h.id for h in store.search("volcano lava", top_k=3, mode="lexical")] == ["d8"]
    assert "d8" not in {h.id for h in store.search("item8", top_k=5, mode="lexical")}
    with pytest.raises(ValueError, match="needs the query text"):
        store.search(np.zeros(64, np.float32), mode="hybrid")


def _varied_docs(n=50, seed=0):
    """Documents of varied lengths over a small vocabulary, so BM25 scores rarely tie."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + ["bread", "cooking", "goal", "guitar"]
    return [(f"v{i}", " ".join(rng.choice(words, size=int(rng.integers(3, 30))))) for i in range(n)]


def test_lexical_and_hybrid_agree_across_stores(tmp_path, hash_embedder, request):
    """The documented tolerance: the same top-10 documents in the same order for lexical and hybrid (RRF),
    except among documents of equal score; BM25 scores within 1% (tantivy keeps document lengths in one byte;
    Qdrant normalises lengths by the average of the first write, here the only one); fused scores within 5e-4,
    one rank step, because documents of equal BM25 score take their ranks in each engine's own order."""
    docs = _varied_docs()
    queries = ["cooking bread w3", "goal guitar w17 w40", "w5 w6 w7 bread", "w59"]
    results = {}
    for kind in STORES:
        s = make_store(kind, tmp_path / kind, hash_embedder, request)
        s.add(docs)
        results[kind] = {m: s.search(queries, top_k=10, mode=m) for m in ("lexical", "hybrid")}
        s.close()
    for kind in STORES[1:]:
        for a, b in zip(results["index"]["lexical"], results[kind]["lexical"]):
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=0.01)
            assert _untied(a) == _untied(b), kind
        for a, b in zip(results["index"]["hybrid"], results[kind]["hybrid"]):
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=5e-4)
            assert a[0].id == b[0].id and len({h.id for h in a} & {h.id for h in b}) >= 9, kind


def _untied(hits):
    """(score, id, stages) best first, documents of equal score by id; the ones tied with the last hit are
    left out (which of them made the cut is each engine's own order)."""
    ranked = sorted((-round(h.score, 3), h.id, tuple(h.stages)) for h in hits)
    return [r for r in ranked if r[0] != ranked[-1][0]]


def test_chinese_lexical_search_in_every_store(store):
    store.add([("zh1", "北京大学的研究人员发现了一种新的蛋白质"), ("zh2", "上海的天气很好"), ("en", "protein folding")])
    assert [h.id for h in store.search("蛋白质", top_k=3, mode="lexical")] == ["zh1"]
    assert [h.id for h in store.search("上海天气", top_k=3, mode="lexical")] == ["zh2"]
    assert [h.id for h in store.search("Proteins", top_k=3, mode="lexical")] == ["en"]  # stemmed at both ends
